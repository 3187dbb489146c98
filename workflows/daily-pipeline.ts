import {
  defineSearchAttributeKey,
  SearchAttributeType,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/common';
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  sleep,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExtractSizes } from '../contracts/extract-plan';
import {
  formatSummary,
  oneLineSummary,
  quarantinedByRule,
  type PipelineSummary,
} from '../contracts/pipeline-summary';
import type { ModelName } from '../contracts/model-summary';
import { sourcePipelineWorkflowId, TASK_QUEUES } from '../contracts/names';
import { ModelsWorkflow } from './models';
import { BOOKKEEPING, type SourceRetry } from './pipeline-options';
import { rootMessage, SourcePipelineWorkflow, type SourcePipelineResult } from './source-pipeline';

const { startPipelineRun, finishPipelineRun, listPipelineSources } = proxyActivities<Activities>(BOOKKEEPING);

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
  /** The sources to run (`cartflow run daily --source NAME`); all registered sources when absent. */
  sources?: string[];
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

/** The first wait for a source another run holds, and the longest, between tries to take it. */
const SOURCE_WAIT_FIRST_MS = 1_000;
const SOURCE_WAIT_MAX_MS = 15_000;

/**
 * The daily pipeline for one logical date: for every source, on its own and beside the others (a
 * `SourcePipelineWorkflow` child each), extract-load the rows changed since the last checkpoint into
 * staging (big tables in chunks several workers share), then quality and the star schema, then
 * reconciliation against the source. A source that fails stops only itself: the others go on, and
 * the run ends `partial` (failing in Temporal as `SourcesFailed`, naming them). The run and its
 * summary go to `ops.pipeline_runs`, and the summary to the Temporal UI (current details and memo).
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
  // Sources whose pipeline another run (another date) holds: this run waits its turn for them.
  const waiting = new Set<string>();
  const publish = () => {
    const details =
      formatSummary(summary) +
      (waiting.size > 0
        ? `\n\nWaiting for another run's turn with: ${[...waiting].join(', ')} (a source's runs take turns)`
        : '');
    setCurrentDetails(details);
    upsertMemo({ summary: oneLineSummary(summary), details });
  };
  publish();
  await startPipelineRun({ runId, pipelineDate: date });

  /** A source's pipeline, once no other run holds it: its child's id is the source's turn. */
  const startSourcePipeline = async (source: string) => {
    for (let wait = SOURCE_WAIT_FIRST_MS; ; wait = Math.min(wait * 2, SOURCE_WAIT_MAX_MS)) {
      try {
        const child = await startChild(SourcePipelineWorkflow, {
          workflowId: sourcePipelineWorkflowId(info.taskQueue, source),
          args: [
            {
              source,
              runId,
              date,
              sizes: input.sizes,
              loadConcurrency: input.loadConcurrency,
              sourceRetry: input.sourceRetry,
            },
          ],
        });
        if (waiting.delete(source)) publish();
        return child;
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        if (!waiting.has(source)) {
          waiting.add(source);
          log.info('Waiting for another run of the source to finish', { date, source });
          publish();
        }
        await sleep(wait);
      }
    }
  };
  const results = new Map<string, SourcePipelineResult>();
  const sourceFailures: ChildWorkflowFailure[] = [];
  let sourcesFailed: string | undefined;
  /** The summary's per-source parts, in the order of the sources, from what has finished. */
  const collect = (sources: string[]) => {
    const done = sources.flatMap((s) => results.get(s) ?? []);
    summary.loads = done.flatMap((r) => r.loads);
    summary.transforms = done.flatMap((r) => r.transform ?? []);
    summary.reconciliations = done.flatMap((r) => r.reconciliation ?? []);
    summary.quarantinedByRule = quarantinedByRule(summary.transforms);
    const failures = done.flatMap((r) => r.failure ?? []);
    if (failures.length > 0) summary.failures = failures;
  };

  try {
    const known = await listPipelineSources();
    const unknown = (input.sources ?? []).filter((s) => !known.includes(s));
    if (unknown.length > 0)
      throw ApplicationFailure.nonRetryable(
        `No source named ${unknown.join(', ')}; the sources are: ${known.join(', ') || 'none'} (cartflow source list).`,
        'InvalidInput',
      );
    const sources = input.sources ? [...new Set(input.sources)] : known;
    await Promise.all(
      sources.map(async (source) => {
        const child = await startSourcePipeline(source);
        try {
          results.set(source, await child.result());
        } catch (error) {
          const failed = error instanceof ChildWorkflowFailure ? error.cause : undefined;
          if (!(
            failed instanceof ApplicationFailure &&
            failed.type === 'SourceFailed' &&
            failed.details?.[0]
          ))
            throw error;
          results.set(source, failed.details[0] as SourcePipelineResult);
          sourceFailures.push(error as ChildWorkflowFailure);
        }
        collect(sources);
        publish();
      }),
    );
    const failedSources = summary.failures?.length ?? 0;

    // The customer models read the star schema just built; a child, so their steps stay out of this history.
    if (input.models !== false && patched(MODELS_PATCH)) {
      summary.models = await executeChild(ModelsWorkflow, {
        workflowId: `${info.workflowId}-models-${runId}`,
        args: [{ date, runId, taskQueue: modelTaskQueue(input, info.taskQueue), models: input.models }],
      });
      publish();
    }

    summary.status =
      failedSources === 0 ? 'succeeded' : failedSources < sources.length ? 'partial' : 'failed';
    summary.finishedAt = new Date(Date.now()).toISOString();
    summary.durationMs = Date.now() - started;
    if (summary.failures) sourcesFailed = sourcesFailedMessage(summary);
    await finishPipelineRun({ runId, status: summary.status, summary, error: sourcesFailed });
    publish();
  } catch (error) {
    summary.status = 'failed';
    summary.error = rootMessage(error);
    summary.finishedAt = new Date(Date.now()).toISOString();
    summary.durationMs = Date.now() - started;
    publish();
    await finishPipelineRun({ runId, status: 'failed', summary, error: summary.error });
    throw error;
  }
  if (sourcesFailed !== undefined) {
    log.warn('Daily pipeline: sources failed', { date, summary: oneLineSummary(summary) });
    // Failed in Temporal, so that it shows in the UI and to alerts, after the other sources landed.
    throw ApplicationFailure.create({
      type: 'SourcesFailed',
      message: sourcesFailed,
      nonRetryable: true,
      details: [summary.failures],
      cause: sourceFailures[0],
    });
  }
  log.info('Daily pipeline succeeded', { date, summary: oneLineSummary(summary) });
  return { runId, date, status: 'succeeded', summary };
}

/** "Source b failed in transform: …; source c …", and whether the other sources landed. */
function sourcesFailedMessage(summary: PipelineSummary): string {
  const failures = summary.failures ?? [];
  return (
    failures.map((f) => `Source ${f.source} failed in ${f.step}: ${f.error}`).join('; ') +
    (summary.status === 'partial' ? ' (the other sources landed)' : '')
  );
}
