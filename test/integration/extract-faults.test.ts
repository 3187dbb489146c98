import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { RetryState } from '@temporalio/common';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import type { SourceDefinition } from '../../sources/definition';
import { removeSource, resetSourceTables, saveSource } from '../../sources/registry';
import { failure } from '../../lib/pipeline-errors';
import { findFreePort } from '../../lib/embedded/ports';
import { ExtractLoadWorkflow } from '../../workflows';
import type { ExtractLoadInput, ExtractLoadResult } from '../../workflows/extract-load';
import { createTestDeps, type TestDeps } from '../helpers/deps';
import { createTestDatabases, testServices, type TestDatabases } from '../helpers/services';
import {
  SOURCE_DIALECTS,
  stagedDigest,
  type SourceDatabase,
  type SourceDialectCase,
} from '../helpers/source-dialects';
import { killMidLoad, startWorkerProcess } from '../helpers/spawn-worker';
import { startTestWorker, type TestWorker } from '../helpers/temporal';

/** A source of one table, `till_lines`, keyed by line_id with updated_at as its cursor. */
const tillSource = (name: string, connection: SourceDefinition['connection']): SourceDefinition => ({
  ...DEMO_SHOP_SOURCE,
  name,
  connection,
  tables: [{ name: 'till_lines', primaryKey: ['line_id'], cursor: 'updated_at' }],
});

/** Small chunks and batches: a few thousand rows make several of each. */
const SIZES = { chunkRows: 1_000, batchRows: 400 };

/** What the workflow failed with: the activity that failed, and the application failure beneath it. */
async function failureOf(
  run: Promise<unknown>,
): Promise<{ activity: ActivityFailure; cause: ApplicationFailure }> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const activity = (error as WorkflowFailedError).cause as ActivityFailure;
  expect(activity).toBeInstanceOf(ActivityFailure);
  expect(activity.cause).toBeInstanceOf(ApplicationFailure);
  return { activity, cause: activity.cause as ApplicationFailure };
}

/**
 * The extract engine's faults, for every source dialect: the same table in each database, the same
 * faults, the same outcomes. (pipeline-faults and pipeline-worker-kill run them through the whole daily
 * pipeline on the demo shop; these run ExtractLoadWorkflow, so the source's own database is all that
 * differs.)
 */
describe.each(SOURCE_DIALECTS)('extract faults with a $dialect source', (dialect: SourceDialectCase) => {
  let databases: TestDatabases;
  let deps: TestDeps;
  let worker: TestWorker;
  let db: SourceDatabase;
  const name = `till_${dialect.dialect}`;

  beforeAll(async () => {
    databases = await createTestDatabases(`extract_faults_${dialect.dialect}`);
    db = await dialect.start(databases.shopUrl);
    deps = createTestDeps(databases);
    worker = await startTestWorker(deps);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await deps?.close();
    await db?.stop();
    await databases?.drop();
  });

  const extractLoad = (
    input: ExtractLoadInput,
    taskQueue = worker.taskQueues.etl,
  ): Promise<ExtractLoadResult> =>
    worker.client.workflow.execute(ExtractLoadWorkflow, {
      workflowId: `el-faults-${crypto.randomUUID()}`,
      taskQueue,
      args: [{ sources: [name], sizes: SIZES, ...input }],
    });
  const stagedKeys = async () =>
    (
      await deps.warehouse.query<{ n: number }>(
        `select count(*)::int as n from pg_constraint where conrelid = $1::regclass and contype = 'p'`,
        [`staging_${name}.till_lines`],
      )
    ).rows[0].n;
  const staged = () => stagedDigest(deps.warehouse, name, 'till_lines');

  it('retries an unreachable source with backoff, then fails naming it, without its password', async () => {
    const port = await findFreePort();
    await saveSource(deps.warehouse, tillSource('gone', db.unreachable(port)));
    try {
      const started = Date.now();
      const { activity, cause } = await failureOf(
        extractLoad({ sources: ['gone'], sourceRetry: { maximumAttempts: 3, initialInterval: '500 ms' } }),
      );
      expect(activity.activityType).toBe('planExtract');
      expect(activity.retryState).toBe(RetryState.MAXIMUM_ATTEMPTS_REACHED);
      expect(cause.type).toBe('SourceUnreachable');
      expect(cause.message).toMatch(/Cannot reach source gone/);
      expect(cause.message).toMatch(/ECONNREFUSED/);
      expect(cause.message).not.toMatch(/secret/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    } finally {
      await removeSource(deps.warehouse, 'gone');
    }
  });

  it('fails at once, typed, when a run names a source that is not registered', async () => {
    const { activity, cause } = await failureOf(extractLoad({ sources: [`${name}_nowhere`] }));
    expect(activity.activityType).toBe('planExtract');
    expect(activity.retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
    expect(cause.type).toBe('SourceNotFound');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(new RegExp(`No source named "${name}_nowhere"`));
  });

  it('loads in full, then takes only the changes, and nothing when the same day runs again', async () => {
    await db.exec(dialect.sql.createTill(3_000, true));
    await saveSource(deps.warehouse, tillSource(name, db.connection));
    const full = await extractLoad({});
    expect(full.loads[0]).toMatchObject({ table: 'till_lines', mode: 'full', rows: 3_000, pieces: 3 });
    expect(await staged()).toEqual(await db.digest('till_lines'));
    // The source keeps the key unique: the staged copy needs none of its own.
    expect(await stagedKeys()).toBe(0);

    // 300 lines changed (several batches with the same cursor value in MySQL) and one added.
    await db.exec(dialect.sql.touch(10));
    await db.exec(dialect.sql.insert(3_001));
    const changed = await extractLoad({ sizes: { ...SIZES, batchRows: 100 } });
    expect(changed.loads[0]).toMatchObject({ mode: 'incremental', rows: 301 });
    expect(changed.loads[0].pieces).toBeGreaterThan(1);
    expect(await staged()).toEqual(await db.digest('till_lines'));

    const again = await extractLoad({});
    expect(again.loads[0]).toMatchObject({ mode: 'unchanged', rows: 0 });
    expect(await staged()).toEqual(await db.digest('till_lines'));
  });

  it("classifies the source's own errors: a missing table is permanent, a lock it waited out is retried", async () => {
    const probe = await db.probe();
    try {
      const classified = (error: unknown) => {
        try {
          failure(error, 'Probing', { side: 'source', classify: probe.dialect.classify });
        } catch (thrown) {
          return thrown as ApplicationFailure;
        }
      };
      const missing = await probe.dialect.count('no_such_table').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(probe.dialect.classify(missing)).toBe('permanent');
      expect(classified(missing)).toMatchObject({ type: 'DatabaseError', nonRetryable: true });

      const release = await probe.holdLock('till_lines');
      const waited = await probe.dialect.count('till_lines').then(
        () => undefined,
        (e: unknown) => e,
      );
      await release();
      expect(probe.dialect.classify(waited)).toBe('transient');
      expect(classified(waited)).toMatchObject({ type: 'DatabaseError', nonRetryable: false });
    } finally {
      await probe.close();
    }
  });

  it('reloads in full when a column is added, and stops naming the column when one is dropped', async () => {
    await db.exec(dialect.sql.addColumn);
    const added = await extractLoad({});
    expect(added.loads[0].mode).toBe('full');
    expect(added.loads[0].notes.join(' ')).toMatch(/column channel \(text\) added at the source/);
    expect(await staged()).toEqual(await db.digest('till_lines'));

    await db.exec(dialect.sql.dropColumn);
    const { activity, cause } = await failureOf(extractLoad({}));
    expect(activity.activityType).toBe('planExtract');
    expect(cause.type).toBe('SourceSchemaChanged');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(
      new RegExp(`Source ${name}, table till_lines: column "note" \\(text\\) was dropped at the source`),
    );
    expect(cause.message).toMatch(new RegExp(`cartflow source reset ${name} till_lines`));
  });

  it('keys the staged copy of a table the source does not keep unique, and stops on a repeated key', async () => {
    await db.exec('drop table till_lines');
    await db.exec(dialect.sql.createTill(3_000, false));
    expect(await resetSourceTables(deps.warehouse, name, 'till_lines')).toEqual(['till_lines']);
    const first = await extractLoad({});
    expect(first.loads[0]).toMatchObject({ mode: 'full', rows: 3_000 });
    expect(await stagedKeys()).toBe(1);

    await db.exec(dialect.sql.insert(17));
    expect(await resetSourceTables(deps.warehouse, name, 'till_lines')).toEqual(['till_lines']);
    const { activity, cause } = await failureOf(extractLoad({}));
    expect(activity.activityType).toBe('loadChunk');
    expect(cause.type).toBe('InvalidSourceDefinition');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(
      new RegExp(
        `Source ${name}, table till_lines: the staged rows are not unique on the primary key \\(line_id\\)`,
      ),
    );
  });

  it('completes a load whose worker was killed mid-chunk, with staging equal to the source', async () => {
    const rows = 300_000;
    await db.exec('drop table till_lines');
    await db.exec(dialect.sql.createTill(rows, true));
    expect(await resetSourceTables(deps.warehouse, name, 'till_lines')).toEqual(['till_lines']);
    const taskQueue = `etl-kill-${crypto.randomBytes(4).toString('hex')}`;
    const env = {
      CARTFLOW_TEST_WORKER: JSON.stringify({
        temporalAddress: testServices().temporalAddress,
        taskQueue,
        warehouseUrl: databases.warehouseUrl,
        shopUrl: databases.shopUrl,
      }),
    };
    const children: ChildProcess[] = [];
    try {
      const first = await startWorkerProcess(env);
      children.push(first);
      const run = extractLoad(
        { sizes: { chunkRows: 150_000, batchRows: 5_000 }, loadConcurrency: 1 },
        taskQueue,
      );
      const committedAtKill = await killMidLoad(first, deps.warehouse, {
        source: name,
        table: 'till_lines',
        rows: 20_000,
      });
      expect(committedAtKill).toBeGreaterThan(0);
      expect(first.signalCode).toBe('SIGKILL');
      expect((await staged()).rows).toBeLessThan(rows);

      // The second worker logs at info (CARTFLOW_LOG_LEVEL): the activity's log.info reaches its JSON log.
      const second = await startWorkerProcess({
        CARTFLOW_TEST_WORKER: JSON.stringify({ ...JSON.parse(env.CARTFLOW_TEST_WORKER), logLevel: 'info' }),
      });
      children.push(second);
      const result = await run;
      expect(result.loads[0]).toMatchObject({ mode: 'full', rows });
      expect(result.loads[0].notes).toContain('resumed after an interrupted attempt');
      expect(await staged()).toEqual(await db.digest('till_lines'));
      const retried = second
        .logs()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((entry) => entry.message === 'Retrying a chunk load');
      expect(retried.length).toBeGreaterThan(0);
      expect(retried[0]).toMatchObject({
        level: 'info',
        source: name,
        table: 'till_lines',
        activityType: 'loadChunk',
      });
    } finally {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 300_000);
});
