import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import crypto from 'node:crypto';
import { DailyPipelineWorkflow } from '../../workflows';
import { createTestDeps, type TestDeps } from '../helpers/deps';
import { createTestDatabases, type TestDatabases } from '../helpers/services';
import { startTestWorker, type TestWorker } from '../helpers/temporal';

describe('DailyPipelineWorkflow on a real worker and a real Temporal server', () => {
  let databases: TestDatabases;
  let deps: TestDeps;
  let worker: TestWorker;

  beforeAll(async () => {
    databases = await createTestDatabases('pipeline_run');
    deps = createTestDeps(databases);
    worker = await startTestWorker(deps);
  });

  afterAll(async () => {
    await worker?.stop();
    await deps?.close();
    await databases?.drop();
  });

  it('records the run in ops.pipeline_runs of the warehouse', async () => {
    const workflowId = `daily-test-${crypto.randomUUID()}`;
    const result = await worker.client.workflow.execute(DailyPipelineWorkflow, {
      workflowId,
      taskQueue: worker.taskQueues.etl,
      args: [{ date: '2026-11-22' }],
    });
    expect(result.status).toBe('succeeded');

    const { rows } = await deps.warehouse.query(
      `select run_id, to_char(pipeline_date, 'YYYY-MM-DD') as pipeline_date, status, finished_at is not null as finished
         from ops.pipeline_runs where run_id = $1`,
      [result.runId],
    );
    expect(rows).toEqual([
      { run_id: result.runId, pipeline_date: '2026-11-22', status: 'succeeded', finished: true },
    ]);

    const description = await worker.client.workflow.getHandle(workflowId).describe();
    expect(description.searchAttributes.PipelineDate).toEqual(['2026-11-22']);
    // The readable summary the Temporal UI shows: one line in the memo, the details in Markdown.
    expect(description.memo?.summary).toMatch(/^2026-11-22 succeeded: 0 rows loaded/);
    expect(description.memo?.details).toMatch(/Reconciliation of shop: every day matches/);
  });

  it('fails a malformed date as a non-retryable InvalidInput, writing nothing', async () => {
    const before = await deps.warehouse.query('select count(*)::int as n from ops.pipeline_runs');
    const run = worker.client.workflow.execute(DailyPipelineWorkflow, {
      workflowId: `daily-test-${crypto.randomUUID()}`,
      taskQueue: worker.taskQueues.etl,
      args: [{ date: '22/11/2026' }],
    });
    const failure = await run.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('InvalidInput');
    expect((cause as ApplicationFailure).nonRetryable).toBe(true);
    const after = await deps.warehouse.query('select count(*)::int as n from ops.pipeline_runs');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});
