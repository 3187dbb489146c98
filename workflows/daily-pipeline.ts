import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExtractSizes } from '../activities/extract/extract-load';
import {
  formatSummary,
  oneLineSummary,
  quarantinedByRule,
  type PipelineSummary,
  type ReconciliationSummary,
} from '../lib/pipeline-summary';
import type { ModelName } from '../lib/model-summary';
import { TASK_QUEUES } from '../lib/names';
import { ExtractLoadWorkflow } from './extract-load';
import { ModelsWorkflow } from './models';
import { BOOKKEEPING, RECONCILE, TRANSFORM, withSourceRetry, type SourceRetry } from './pipeline-options';

const { startPipelineRun, finishPipelineRun } = proxyActivities<Activities>(BOOKKEEPING);
const { transformSource } = proxyActivities<Activities>(TRANSFORM);

export interface DailyPipelineInput {
  /**
   * The logical date, `YYYY-MM-DD`, in the shop's time zone. A run started by the schedule leaves it
   * out: its date is then the day (in `timezone`) it was scheduled for, even when it runs late.
   */
  date?: string;
  /** The shop's IANA time zone (CARTFLOW_TIMEZONE), for the scheduled day. Default UTC. */
  timezone?: string;
  /** Chunk and batch sizes of extract-load; tests make them small. */
  sizes?: ExtractSizes;
  /** How many chunk loads run at once across all tables (default 4). */
  loadConcurrency?: number;
  /** Overrides of the source retry policy, for operators and tests: attempts and the first interval. */
  sourceRetry?: SourceRetry;
  /** The customer models to fit after the star schema (default all; false for none). */
  models?: ModelName[] | false;
  /**
   * The task queue of the model activities. Default: the `ml` queue when the pipeline runs on the
   * standard `etl` queue, else the pipeline's own queue (a test's or an operator's private queue).
   */
  modelTaskQueue?: string;
}

function modelTaskQueue(input: DailyPipelineInput, pipelineQueue: string): string {
  return input.modelTaskQueue ?? (pipelineQueue === TASK_QUEUES.etl ? TASK_QUEUES.ml : pipelineQueue);
}

/** Runs started before the models step existed replay without it. */
const MODELS_PATCH = 'daily-pipeline-customer-models';

export interface DailyPipelineResult {
  runId: string;
  date: string;
  status: 'succeeded';
  summary: PipelineSummary;
}

const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** The calendar day of `at` in `timeZone`, as YYYY-MM-DD. */
function dayIn(at: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value;
  return `${part('year')}-${part('month')}-${part('day')}`;
}

function isCalendarDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const [y, m, d] = text.split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** The message of the failure at the bottom of an activity failure, which says what went wrong. */
function describe(error: unknown): string {
  let current: unknown = error;
  while ((current instanceof ActivityFailure || current instanceof ChildWorkflowFailure) && current.cause)
    current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

/**
 * The daily pipeline for one logical date: for every source, extract-load the rows changed since the
 * last checkpoint into staging (big tables in chunks several workers share), then quality and the
 * star schema, then reconciliation against the source; the run and its summary go to
 * `ops.pipeline_runs`, and the summary to the Temporal UI (current details and memo).
 */
export async function DailyPipelineWorkflow(input: DailyPipelineInput = {}): Promise<DailyPipelineResult> {
  const info = workflowInfo();
  const timezone = input.timezone ?? 'UTC';
  let date = input.date;
  if (date === undefined) {
    const scheduled = info.typedSearchAttributes.get(SCHEDULED_START);
    date = dayIn(scheduled ?? info.runStartTime, timezone);
  }
  if (!isCalendarDate(date)) {
    throw ApplicationFailure.nonRetryable(
      `The pipeline date must be YYYY-MM-DD, not "${date}"`,
      'InvalidInput',
    );
  }
  const { runId } = info;
  upsertSearchAttributes({ PipelineDate: [date] });

  const { reconcileSource } = proxyActivities<Activities>(withSourceRetry(RECONCILE, input.sourceRetry));

  const started = Date.now();
  const summary: PipelineSummary = {
    date,
    status: 'running',
    startedAt: new Date(started).toISOString(),
    loads: [],
    transforms: [],
    reconciliations: [],
    quarantinedByRule: {},
  };
  const publish = () => {
    const details = formatSummary(summary);
    setCurrentDetails(details);
    upsertMemo({ summary: oneLineSummary(summary), details });
  };
  publish();
  await startPipelineRun({ runId, pipelineDate: date });

  try {
    // Extract-load is a child workflow: its chunk activities fill its own history, not this one's.
    const extracted = await executeChild(ExtractLoadWorkflow, {
      workflowId: `${info.workflowId}-extract-${runId}`,
      args: [{ sizes: input.sizes, loadConcurrency: input.loadConcurrency, sourceRetry: input.sourceRetry }],
    });
    const sources = extracted.sources;
    summary.loads = extracted.loads;
    publish();

    for (const source of sources) {
      summary.transforms.push(await transformSource({ source, runId, date }));
      summary.quarantinedByRule = quarantinedByRule(summary.transforms);
      publish();
    }
    for (const source of sources) {
      summary.reconciliations.push(await reconcileSource({ source, runId }));
      publish();
    }

    // The customer models read the star schema just built; a child, so their steps stay out of this history.
    if (input.models !== false && patched(MODELS_PATCH)) {
      summary.models = await executeChild(ModelsWorkflow, {
        workflowId: `${info.workflowId}-models-${runId}`,
        args: [{ date, runId, taskQueue: modelTaskQueue(input, info.taskQueue), models: input.models }],
      });
      publish();
    }

    summary.status = 'succeeded';
    summary.finishedAt = new Date(Date.now()).toISOString();
    summary.durationMs = Date.now() - started;
    await finishPipelineRun({ runId, status: 'succeeded', summary });
    publish();
    log.info('Daily pipeline succeeded', { date, summary: oneLineSummary(summary) });
    return { runId, date, status: 'succeeded', summary };
  } catch (error) {
    summary.status = 'failed';
    summary.error = describe(error);
    summary.finishedAt = new Date(Date.now()).toISOString();
    summary.durationMs = Date.now() - started;
    const cause = error instanceof ActivityFailure ? error.cause : undefined; // reconciliation runs here, not in a child
    if (cause instanceof ApplicationFailure && cause.type === 'ReconciliationMismatch' && cause.details?.[0])
      summary.reconciliations.push(cause.details[0] as ReconciliationSummary);
    publish();
    await finishPipelineRun({ runId, status: 'failed', summary, error: summary.error });
    throw error;
  }
}
