import {
  ActivityFailure,
  ApplicationFailure,
  type ChildWorkflowFailure,
  TemporalFailure,
  WorkflowFailedError,
} from '@temporalio/client';
import { RetryState } from '@temporalio/common';
import crypto from 'node:crypto';
import type pg from 'pg';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import { resetSourceTables, saveSource, removeSource } from '../../sources/registry';
import { findFreePort } from '../../lib/embedded/ports';
import type { TestDeps } from '../helpers/deps';
import {
  coreFingerprint,
  fillShop,
  runDailyPipeline,
  startPipelineStack,
  tableDigest,
  type PipelineStack,
} from '../helpers/pipeline';
import type { TestDatabases } from '../helpers/services';
import type { TestWorker } from '../helpers/temporal';
import { ExtractLoadWorkflow } from '../../workflows';

/**
 * The failure chain of a run in which a source failed: the workflow failed as `SourcesFailed` because
 * the source's SourcePipelineWorkflow child did (as `SourceFailed`), because an activity did — in
 * extract-load, within its ExtractLoadWorkflow child — with an application failure at the bottom.
 */
async function failureOf(
  run: Promise<unknown>,
  step: 'extract' | 'reconcile' = 'extract',
): Promise<{ activity: ActivityFailure; cause: ApplicationFailure }> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  // Down to the activity's own failure (which may carry the driver's error as its cause in turn).
  const chain: TemporalFailure[] = [];
  for (let f = (error as WorkflowFailedError).cause; f instanceof TemporalFailure; f = f.cause) {
    chain.push(f);
    if (chain[chain.length - 2] instanceof ActivityFailure) break;
  }
  const cause = chain[chain.length - 1];
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect(
    chain.slice(0, -1).map((f) => (f instanceof ApplicationFailure ? f.type : f.constructor.name)),
  ).toEqual([
    'SourcesFailed',
    'ChildWorkflowFailure',
    'SourceFailed',
    ...(step === 'extract' ? ['ChildWorkflowFailure'] : []),
    'ActivityFailure',
  ]);
  if (step === 'extract')
    expect((chain[3] as ChildWorkflowFailure).execution.workflowId).toMatch(/-source-\w+-extract-/);
  return {
    activity: chain[chain.length - 2] as ActivityFailure,
    cause: chain[chain.length - 1] as ApplicationFailure,
  };
}

/**
 * Faults other than a dying worker: a source that cannot be reached, and a source whose schema
 * changes. Each run that fails says why, is recorded as failed, and leaves core exactly as it was.
 */
describe('the daily pipeline when a source fails or changes', () => {
  let stack: PipelineStack;
  let deps: TestDeps;
  let worker: TestWorker;
  let shop: pg.Pool;

  beforeAll(async () => {
    stack = await startPipelineStack('pipeline_faults');
    ({ deps, worker, shop } = stack);
    await fillShop(shop, { customers: 300, orders: 1_000, linesPerOrder: 3 });
    const first = await runDailyPipeline(worker, { date: '2026-11-20' });
    expect(first.status).toBe('succeeded');
  });

  afterAll(() => stack?.stop());

  const lastRun = async () =>
    (
      await deps.warehouse.query<{ status: string; error: string | null }>(
        `select status, error from ops.pipeline_runs order by started_at desc limit 1`,
      )
    ).rows[0];

  it('retries an unreachable source with backoff, then fails visibly with nothing half-done in core', async () => {
    const closedPort = await findFreePort();
    await saveSource(deps.warehouse, {
      ...DEMO_SHOP_SOURCE,
      name: 'gone',
      connection: { kind: 'postgres', url: `postgres://nobody:secret@127.0.0.1:${closedPort}/nothing` },
    });
    // A change at the shop that the failed run must not carry into core.
    await shop.query(`update orders set status = 'cancelled' where order_id = 1`);
    const before = await coreFingerprint(deps.warehouse);
    try {
      const started = Date.now();
      const { activity, cause } = await failureOf(
        // Only the unreachable source: the shop, which would land on its own, stays out of this run.
        runDailyPipeline(worker, {
          date: '2026-11-21',
          sources: ['gone'],
          sourceRetry: { maximumAttempts: 3, initialInterval: '500 ms' },
        }),
      );
      expect(activity.activityType).toBe('planExtract');
      expect(activity.retryState).toBe(RetryState.MAXIMUM_ATTEMPTS_REACHED);
      expect(cause.type).toBe('SourceUnreachable');
      expect(cause.message).toMatch(/source gone/);
      expect(cause.message).toMatch(/ECONNREFUSED/);
      expect(cause.message).not.toMatch(/secret/);
      // Three attempts 0.5 s then 1 s apart: the backoff was waited out.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
      expect(await coreFingerprint(deps.warehouse)).toEqual(before);
      const run = await lastRun();
      expect(run.status).toBe('failed');
      expect(run.error).toMatch(/Cannot reach source gone/);
    } finally {
      await removeSource(deps.warehouse, 'gone');
    }
  });

  it('adds a column added at the source, reloading the table in full', async () => {
    await shop.query(`alter table customers add column loyalty_tier text`);
    await shop.query(
      `update customers set loyalty_tier = case when customer_id % 2 = 0 then 'gold' else 'silver' end`,
    );
    const result = await runDailyPipeline(worker, { date: '2026-11-21' });
    const customers = result.summary.loads.find((l) => l.table === 'customers')!;
    expect(customers.mode).toBe('full');
    expect(customers.notes.join(' ')).toMatch(/column loyalty_tier \(text\) added at the source/);
    expect(await tableDigest(deps.warehouse, 'staging_shop.customers', 'customer_id')).toEqual(
      await tableDigest(shop, 'customers', 'customer_id'),
    );
    // The late cancellation the failed run did not carry is in core now, once.
    const { rows } = await deps.warehouse.query(
      `select distinct status from core.fact_order_line where order_id = '1'`,
    );
    expect(rows).toEqual([{ status: 'cancelled' }]);
    expect(result.summary.reconciliations[0].mismatchedDays).toBe(0);
  });

  it('stops on a column dropped at the source, naming table and column, until the table is reset', async () => {
    await shop.query(`alter table customers drop column gender`);
    const before = await coreFingerprint(deps.warehouse);
    const { activity, cause } = await failureOf(runDailyPipeline(worker, { date: '2026-11-22' }));
    expect(activity.activityType).toBe('planExtract');
    expect(cause.type).toBe('SourceSchemaChanged');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(
      /Source shop, table customers: column "gender" \(text\) was dropped at the source/,
    );
    expect(cause.message).toMatch(/cartflow source reset shop customers/);
    expect(await coreFingerprint(deps.warehouse)).toEqual(before);
    expect((await lastRun()).status).toBe('failed');

    // The mapping does not use gender: resetting the table reloads it with the source's columns.
    expect(await resetSourceTables(deps.warehouse, 'shop', 'customers')).toEqual(['customers']);
    const after = await runDailyPipeline(worker, { date: '2026-11-22' });
    expect(after.summary.loads.find((l) => l.table === 'customers')!.mode).toBe('full');
    expect(after.summary.transforms[0].customers).toEqual({ new: 0, newVersions: 0, overwritten: 0 });
    expect(await tableDigest(deps.warehouse, 'staging_shop.customers', 'customer_id')).toEqual(
      await tableDigest(shop, 'customers', 'customer_id'),
    );
  });

  it('fails the run when the warehouse no longer matches the source, with the numbers', async () => {
    // A hard delete at the source: a cursor cannot see it, so staging keeps the line; reconciliation must.
    const { rows: gone } = await shop.query<{ order_line_id: string; amount: string }>(
      `delete from order_lines where order_line_id = 7
       returning order_line_id::text, (quantity * unit_price * (1 - discount))::text as amount`,
    );
    expect(gone).toHaveLength(1);
    const { activity, cause } = await failureOf(
      runDailyPipeline(worker, { date: '2026-11-21' }),
      'reconcile',
    );
    expect(activity.activityType).toBe('reconcileSource');
    expect(cause.type).toBe('ReconciliationMismatch');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(/Reconciliation of source shop failed: 1 of \d+ days differ/);
    expect(cause.message).toMatch(/source 2999 lines .* warehouse 3000 lines/);
    const run = await deps.warehouse.query(
      `select status, summary->'reconciliations'->0 as reconciliation from ops.pipeline_runs
        order by started_at desc limit 1`,
    );
    expect(run.rows[0].status).toBe('failed');
    expect(run.rows[0].reconciliation).toMatchObject({
      source_lines: 2999,
      warehouse_lines: 3000,
      mismatchedDays: 1,
    });
  });
});

/**
 * The staged copy of a table keeps its rows without an index while it loads. When the source keeps
 * the declared key unique itself, that is all; when it does not (a table without a key, a view), the
 * load ends by adding the key to the staged copy — and a key the source does not hold stops the run.
 */
describe('the key of a staged table the source does not keep unique', () => {
  let stack: PipelineStack;
  let databases: TestDatabases;
  let deps: TestDeps;
  let worker: TestWorker;
  let shop: pg.Pool;

  beforeAll(async () => {
    stack = await startPipelineStack('pipeline_keys');
    ({ databases, deps, worker, shop } = stack);
    await shop.query(`
      create table till_lines (line_id bigint not null, amount numeric(10, 2), updated_at timestamptz not null);
      insert into till_lines select g, g * 1.5, timestamptz '2026-11-01' + g * interval '1 minute'
        from generate_series(1, 3000) g`);
    await saveSource(deps.warehouse, {
      ...DEMO_SHOP_SOURCE,
      name: 'till',
      connection: { kind: 'postgres', url: databases.shopUrl },
      tables: [{ name: 'till_lines', primaryKey: ['line_id'], cursor: 'updated_at' }],
    });
  });

  afterAll(() => stack?.stop());

  const extractLoad = () =>
    worker.client.workflow.execute(ExtractLoadWorkflow, {
      workflowId: `el-keys-${crypto.randomUUID()}`,
      taskQueue: worker.taskQueues.etl,
      args: [{ sources: ['till'], sizes: { chunkRows: 1_000, batchRows: 400 } }],
    });
  const stagedKeys = async () =>
    (
      await deps.warehouse.query<{ n: number }>(
        `select count(*)::int as n from pg_constraint
          where conrelid = 'staging_till.till_lines'::regclass and contype = 'p'`,
      )
    ).rows[0].n;

  it('adds the key to the staged copy once the load completes', async () => {
    const result = await extractLoad();
    expect(result.loads[0]).toMatchObject({ table: 'till_lines', mode: 'full', rows: 3000 });
    expect(await stagedKeys()).toBe(1);
    expect(await tableDigest(deps.warehouse, 'staging_till.till_lines', 'line_id')).toEqual(
      await tableDigest(shop, 'till_lines', 'line_id'),
    );
  });

  it('stops, naming the table and key, when the source holds a key twice', async () => {
    await shop.query(`insert into till_lines values (17, 99.99, now())`);
    expect(await resetSourceTables(deps.warehouse, 'till', 'till_lines')).toEqual(['till_lines']);
    const error = await extractLoad().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const activity = (error as WorkflowFailedError).cause as ActivityFailure;
    expect(activity.activityType).toBe('loadChunk');
    const cause = activity.cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidSourceDefinition');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(
      /Source till, table till_lines: the staged rows are not unique on the primary key \(line_id\)/,
    );
  });
});
