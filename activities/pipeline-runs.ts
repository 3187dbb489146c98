import type pg from 'pg';
import type { PipelineSummary } from '../contracts/pipeline-summary';

export interface PipelineRunsDeps {
  warehouse: pg.Pool;
}

/** Records each DailyPipelineWorkflow run in `ops.pipeline_runs`; both calls are idempotent per run id. */
export function createPipelineRunActivities({ warehouse }: PipelineRunsDeps) {
  return {
    async startPipelineRun(input: { runId: string; pipelineDate: string }): Promise<void> {
      await warehouse.query(
        `insert into ops.pipeline_runs (run_id, pipeline_date, status)
         values ($1, $2, 'running')
         on conflict (run_id) do nothing`,
        [input.runId, input.pipelineDate],
      );
    },

    async finishPipelineRun(input: {
      runId: string;
      status: 'succeeded' | 'partial' | 'failed';
      summary: PipelineSummary;
      error?: string;
    }): Promise<void> {
      const result = await warehouse.query(
        `update ops.pipeline_runs
            set status = $2, summary = $3, error = $4, finished_at = coalesce(finished_at, now())
          where run_id = $1`,
        [input.runId, input.status, JSON.stringify(input.summary), input.error ?? null],
      );
      if (result.rowCount !== 1)
        throw new Error(`No pipeline run ${input.runId} to finish: startPipelineRun must run first.`);
    },
  };
}
