import { defineSearchAttributeKey, SearchAttributeType, type Duration } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  log,
  proxyActivities,
  setCurrentDetails,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExtractSizes, LoadResult, TablePlan } from '../activities/extract/extract-load';
import {
  formatSummary,
  oneLineSummary,
  quarantinedByRule,
  type PipelineSummary,
  type ReconciliationSummary,
} from '../lib/pipeline-summary';

/** Retries for quick bookkeeping calls against the warehouse. */
const BOOKKEEPING: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 10,
  },
};

/**
 * Extract-load: long, heartbeating every few seconds. A worker that dies is noticed within the
 * heartbeat timeout, and the retry resumes after the last committed batch. A source that cannot be
 * reached is retried with backoff for about eight minutes, then the run fails.
 */
const EXTRACT_LOAD: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 8,
  },
};

/** Quality and star schema in one transaction per source; heartbeats while its statements run. */
const TRANSFORM: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 5,
  },
};

/** Reconciliation reads both sides once; a mismatch is non-retryable, so only outages are retried. */
const RECONCILE: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 8,
  },
};

const { startPipelineRun, finishPipelineRun, listPipelineSources } = proxyActivities<Activities>(BOOKKEEPING);
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
  sourceRetry?: { maximumAttempts?: number; initialInterval?: Duration };
}

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

/** Runs `tasks` with at most `limit` at a time; after a failure starts no more, waits for those running, and throws the first. */
async function runBounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  let failed: { error: unknown } | undefined;
  const lane = async () => {
    while (next < tasks.length && !failed) {
      const index = next++;
      try {
        results[index] = await tasks[index]();
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, lane));
  if (failed) throw failed.error;
  return results;
}

/** The message of the failure at the bottom of an activity failure, which says what went wrong. */
function describe(error: unknown): string {
  let current: unknown = error;
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
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

  const extractOptions: ActivityOptions = {
    ...EXTRACT_LOAD,
    retry: {
      ...EXTRACT_LOAD.retry,
      ...(input.sourceRetry?.maximumAttempts !== undefined
        ? { maximumAttempts: input.sourceRetry.maximumAttempts }
        : {}),
      ...(input.sourceRetry?.initialInterval !== undefined
        ? { initialInterval: input.sourceRetry.initialInterval }
        : {}),
    },
  };
  const { planExtract, loadChunk, loadIncremental } = proxyActivities<Activities>(extractOptions);
  const { reconcileSource } = proxyActivities<Activities>({
    ...RECONCILE,
    retry: { ...RECONCILE.retry, ...extractOptions.retry },
  });

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
    const sources = await listPipelineSources();
    const plans: TablePlan[] = (
      await Promise.all(sources.map((source) => planExtract({ source, sizes: input.sizes })))
    ).flat();
    const tasks: (() => Promise<LoadResult>)[] = [];
    for (const plan of plans) {
      if (plan.mode === 'full')
        for (const chunkNo of plan.chunks)
          tasks.push(() =>
            loadChunk({
              source: plan.source,
              table: plan.table,
              generation: plan.generation,
              chunkNo,
              step: plan.step,
            }),
          );
      else if (plan.mode === 'incremental' && plan.upTo !== null)
        tasks.push(() =>
          loadIncremental({
            source: plan.source,
            table: plan.table,
            upTo: plan.upTo!,
            batchRows: input.sizes?.batchRows,
          }),
        );
    }
    const loads = await runBounded(tasks, input.loadConcurrency ?? 4);
    summary.loads = plans.map((plan) => {
      const mine = loads.filter((l) => l.source === plan.source && l.table === plan.table);
      return {
        source: plan.source,
        table: plan.table,
        mode: plan.mode,
        rows: mine.reduce((sum, l) => sum + l.rows, 0),
        pieces: plan.mode === 'full' ? mine.length : mine.reduce((sum, l) => sum + l.batches, 0),
        notes: [
          ...plan.notes,
          ...(mine.some((l) => l.resumed) ? ['resumed after an interrupted attempt'] : []),
        ],
      };
    });
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
    const cause = error instanceof ActivityFailure ? error.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === 'ReconciliationMismatch' && cause.details?.[0])
      summary.reconciliations.push(cause.details[0] as ReconciliationSummary);
    publish();
    await finishPipelineRun({ runId, status: 'failed', summary, error: summary.error });
    throw error;
  }
}
