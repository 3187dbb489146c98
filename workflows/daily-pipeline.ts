import {
  ApplicationFailure,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';

const { startPipelineRun, finishPipelineRun } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

export interface DailyPipelineInput {
  /** The logical date, `YYYY-MM-DD`, in the shop's time zone. */
  date: string;
}

export interface DailyPipelineResult {
  runId: string;
  date: string;
  status: 'succeeded';
}

/** The daily pipeline for one logical date. Steps are added by the pipeline issue; each records into ops. */
export async function DailyPipelineWorkflow(input: DailyPipelineInput): Promise<DailyPipelineResult> {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(input.date)) {
    throw ApplicationFailure.nonRetryable(
      `The pipeline date must be YYYY-MM-DD, not "${input.date}"`,
      'InvalidInput',
    );
  }
  const { runId } = workflowInfo();
  upsertSearchAttributes({ PipelineDate: [input.date] });
  await startPipelineRun({ runId, pipelineDate: input.date });
  await finishPipelineRun({ runId, status: 'succeeded', summary: { steps: [] } });
  return { runId, date: input.date, status: 'succeeded' };
}
