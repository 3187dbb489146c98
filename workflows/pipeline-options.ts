/**
 * The daily pipeline's activity option presets and a pure helper its workflows share. Every preset
 * sets startToCloseTimeout; the long ones heartbeat.
 */
import type { ActivityOptions, Duration, RetryPolicy } from '@temporalio/common';

/** Retries for quick bookkeeping calls against the warehouse. */
export const BOOKKEEPING: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 10,
  },
};

/**
 * Extract-load: long, heartbeating every two seconds. A worker that dies is noticed within the
 * heartbeat timeout, and the retry resumes after the last committed batch. A source that cannot be
 * reached is retried with backoff for about eight minutes, then the run fails.
 */
export const EXTRACT_LOAD: ActivityOptions = {
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
export const TRANSFORM: ActivityOptions = {
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
export const RECONCILE: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 8,
  },
};

/** Overrides of the retry policy for calls that reach sources, for operators and tests. */
export interface SourceRetry {
  maximumAttempts?: number;
  initialInterval?: Duration;
}

export function withSourceRetry(preset: ActivityOptions, override: SourceRetry | undefined): ActivityOptions {
  const retry: RetryPolicy = { ...preset.retry };
  if (override?.maximumAttempts !== undefined) retry.maximumAttempts = override.maximumAttempts;
  if (override?.initialInterval !== undefined) retry.initialInterval = override.initialInterval;
  return { ...preset, retry };
}

/** Runs `tasks` with at most `limit` at a time; after a failure starts no more, waits for those running, and throws the first. */
export async function runBounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
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

/**
 * A model fit: reads the warehouse, fits, writes its mart. Heartbeats between stages (k-means between
 * its k values). A fit that failed for its data is non-retryable; the database's outages are retried.
 */
export const MODEL_FIT: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '5 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 3,
  },
};
