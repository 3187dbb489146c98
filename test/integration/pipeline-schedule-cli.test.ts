import { ScheduleOverlapPolicy } from '@temporalio/client';
import crypto from 'node:crypto';
import { backfill } from '../../cli/backfill';
import { createCliContext, type CliContext } from '../../cli/context';
import { ensureDailyPipelineSchedule } from '../../cli/pipeline-schedule';
import { runDailyFor } from '../../cli/run';
import { createLogger } from '../../lib/log';
import { testConfig } from '../helpers/config';
import { createTestDeps, type TestDeps } from '../helpers/deps';
import { fillShop } from '../helpers/pipeline';
import { createTestDatabases, testServices, type TestDatabases } from '../helpers/services';
import { startTestWorker, type TestWorker } from '../helpers/temporal';

/**
 * The ways a daily run starts: the Temporal Schedule (created, updated, and its logical date the day
 * it was scheduled for in the shop's time zone, even when it runs late) and the CLI (one date, or a
 * range with bounded parallelism).
 */
describe('starting the daily pipeline: schedule and CLI', () => {
  let databases: TestDatabases;
  let deps: TestDeps;
  let worker: TestWorker;
  let context: CliContext;

  beforeAll(async () => {
    databases = await createTestDatabases('pipeline_schedule');
    deps = createTestDeps(databases);
    await fillShop(deps.shop, { customers: 50, orders: 200, linesPerOrder: 2 });
    worker = await startTestWorker(deps);
    context = createCliContext(
      testConfig({
        CARTFLOW_WAREHOUSE_URL: databases.warehouseUrl,
        CARTFLOW_SHOP_URL: databases.shopUrl,
        TEMPORAL_ADDRESS: testServices().temporalAddress,
        SMTP_URL: 'smtp://127.0.0.1:1',
        CARTFLOW_TIMEZONE: 'Pacific/Auckland',
      }),
      createLogger('warn'),
    );
  });

  afterAll(async () => {
    await context?.close();
    await worker?.stop();
    await deps?.close();
    await databases?.drop();
  });

  const runDates = async () =>
    (
      await deps.warehouse.query<{ date: string; status: string }>(
        `select to_char(pipeline_date, 'YYYY-MM-DD') as date, status from ops.pipeline_runs order by 1`,
      )
    ).rows;

  it('creates the schedule at 02:00 in the shop’s time zone, skipping overlaps, and updates it in place', async () => {
    const scheduleId = `daily-pipeline-test-${crypto.randomBytes(4).toString('hex')}`;
    const options = { timezone: 'Europe/Berlin', taskQueue: worker.taskQueues.etl, scheduleId };
    expect(await ensureDailyPipelineSchedule(worker.client, options)).toBe('created');
    const handle = worker.client.schedule.getHandle(scheduleId);
    try {
      let described = await handle.describe();
      expect(described.spec.calendars).toEqual([
        expect.objectContaining({ hour: [{ start: 2, end: 2, step: 1 }] }),
      ]);
      expect(described.spec.timezone).toBe('Europe/Berlin');
      expect(described.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
      expect(described.policies.catchupWindow).toBe(86_400_000);
      expect(described.action.type).toBe('startWorkflow');

      expect(
        await ensureDailyPipelineSchedule(worker.client, { ...options, timezone: 'Pacific/Auckland' }),
      ).toBe('updated');
      described = await handle.describe();
      expect(described.spec.timezone).toBe('Pacific/Auckland');

      // A run scheduled for 02:00 on 10 November in Auckland — 13:00 UTC on the 9th — taken late, as a
      // backfill: its logical date is the scheduled day in Auckland, the 10th.
      await handle.backfill({
        start: new Date('2026-11-09T12:30:00Z'),
        end: new Date('2026-11-09T13:30:00Z'),
        overlap: ScheduleOverlapPolicy.ALLOW_ALL,
      });
      for (const started = Date.now(); Date.now() - started < 60_000;) {
        if ((await runDates()).some((r) => r.date === '2026-11-10' && r.status === 'succeeded')) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(await runDates()).toEqual([{ date: '2026-11-10', status: 'succeeded' }]);
      described = await handle.describe();
      const recent = described.info.recentActions[0];
      const run = await worker.client.workflow.getHandle(recent.action.workflow.workflowId).describe();
      expect(run.searchAttributes.PipelineDate).toEqual(['2026-11-10']);
    } finally {
      await handle.delete();
    }
  });

  it('runs one date from the CLI, joining a run of the same date already under way', async () => {
    const started: string[] = [];
    const [first, second] = await Promise.all([
      runDailyFor(
        context,
        worker.client,
        '2026-11-11',
        (_id, runId) => started.push(runId),
        worker.taskQueues.etl,
      ),
      runDailyFor(
        context,
        worker.client,
        '2026-11-11',
        (_id, runId) => started.push(runId),
        worker.taskQueues.etl,
      ),
    ]);
    expect(first.status).toBe('succeeded');
    expect(second.status).toBe('succeeded');
    expect(new Set(started).size).toBe(1);
    expect(first.workflowId).toBe('daily-2026-11-11');
  });

  it('backfills a range of dates with bounded parallelism', async () => {
    const progress: number[] = [];
    const outcomes = await backfill(
      context,
      { from: '2026-11-01', to: '2026-11-04', parallel: 2, taskQueue: worker.taskQueues.etl },
      (_outcome, done) => progress.push(done),
    );
    expect(outcomes.map((o) => [o.date, o.status])).toEqual([
      ['2026-11-01', 'succeeded'],
      ['2026-11-02', 'succeeded'],
      ['2026-11-03', 'succeeded'],
      ['2026-11-04', 'succeeded'],
    ]);
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(outcomes.every((o) => Array.isArray(o.summary?.models))).toBe(true);
    const dates = (await runDates()).map((r) => r.date);
    expect(dates).toEqual(expect.arrayContaining(['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04']));
  });

  it('leaves the models out of every date of a backfill with --no-models', async () => {
    const outcomes = await backfill(context, {
      from: '2026-11-05',
      to: '2026-11-06',
      parallel: 2,
      taskQueue: worker.taskQueues.etl,
      models: false,
    });
    expect(outcomes.map((o) => [o.date, o.status, o.summary?.models])).toEqual([
      ['2026-11-05', 'succeeded', undefined],
      ['2026-11-06', 'succeeded', undefined],
    ]);
  });
});
