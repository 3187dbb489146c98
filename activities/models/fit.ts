import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { inTransaction } from '../../lib/db';
import type { Config } from '../../lib/config';
import { codeVersion } from '../../lib/code-version';
import type { ModelName, ModelStepResult } from '../../contracts/model-summary';
import { isConnectionError, isTransient, sqlState } from '../../lib/pipeline-errors';
import { recordModelVersion } from './versions';

export interface ModelDeps {
  config: Config;
  warehouse: pg.Pool;
}

export interface ModelInput {
  /** The logical date, YYYY-MM-DD: the model uses facts up to and including it. */
  date: string;
  /** The pipeline run that asked, recorded with the version. */
  runId?: string;
}

/** What a fit hands back to the wrapper that records it. */
export interface Fit {
  parameters: Record<string, unknown>;
  metrics: Record<string, unknown>;
  trainingRows: number;
  outputRows: number;
  backend: string;
  headline: string;
  /** Writes the mart's rows for the date under `versionId`, in the version's transaction. */
  write(client: pg.PoolClient, versionId: number): Promise<number>;
}

/** The date's facts are too few for the model: the step is skipped, not failed, and says why. */
export class NotEnoughData extends Error {}

/**
 * Fails naming the first customer whose feature is not a finite number (a NaN or infinite amount in
 * core), rather than fitting on it: such a value would poison every rank, mean and likelihood.
 */
export function requireFinite<Row extends { source: string; customer_id: string }>(
  rows: Row[],
  columns: (keyof Row & string)[],
): void {
  for (const row of rows)
    for (const column of columns) {
      const value = row[column];
      if (value !== null && !Number.isFinite(value))
        throw new Error(
          `${column} of customer ${row.customer_id} (source ${row.source}) is not a finite number (${String(value)}): ` +
            'find the order line with a NaN or infinite amount in core.fact_order_line and fix it at the source',
        );
    }
}

export const dateKey = (date: string) => Number(date.replace(/-/g, ''));

/** Float64 JavaScript: the fits whose published parameters need double precision (BG/NBD, Gamma-Gamma). */
export const FLOAT64_JS = 'float64-js';

/**
 * Runs one fit as a model step: times it, heartbeats, records its version and writes its mart's rows
 * in one transaction. A fit that throws records a `failed` version (unless the database is down:
 * then Temporal retries) and fails non-retryably as `ModelFailed`; `NotEnoughData` skips the step.
 */
export function createModelFitter(deps: ModelDeps) {
  const { warehouse } = deps;
  const version = codeVersion();
  return async function fitModel(
    model: ModelName,
    input: ModelInput,
    fit: (heartbeat: (details: unknown) => void) => Promise<Fit>,
  ): Promise<ModelStepResult> {
    const started = Date.now();
    const context = Context.current();
    const heartbeat = (details: unknown) => context.heartbeat(details);
    try {
      const result = await fit(heartbeat);
      heartbeat({ step: 'writing' });
      const { versionId, outputRows } = await inTransaction(warehouse, async (client) => {
        const durationMs = Date.now() - started;
        const versionId = await recordModelVersion(client, {
          model,
          asOf: input.date,
          status: 'succeeded',
          parameters: result.parameters,
          metrics: result.metrics,
          trainingRows: result.trainingRows,
          outputRows: result.outputRows,
          durationMs,
          backend: result.backend,
          codeVersion: version,
          runId: input.runId,
        });
        const outputRows = await result.write(client, versionId);
        return { versionId, outputRows };
      });
      const durationMs = Date.now() - started;
      log.info(`Model ${model} fitted`, { date: input.date, versionId, outputRows, durationMs });
      return {
        model,
        status: 'succeeded',
        versionId,
        trainingRows: result.trainingRows,
        outputRows,
        durationMs,
        backend: result.backend,
        headline: result.headline,
      };
    } catch (error) {
      // The database down or a retryable SQLSTATE: Temporal retries the fit. Anything else is the fit's own failure.
      if (sqlState(error) ? isTransient(error) : isConnectionError(error)) throw error;
      if (error instanceof NotEnoughData)
        throw ApplicationFailure.create({
          message: error.message,
          type: 'NotEnoughData',
          nonRetryable: true,
        });
      const message = `The ${model} model for ${input.date} failed: ${(error as Error)?.message ?? String(error)}`;
      await recordModelVersion(warehouse, {
        model,
        asOf: input.date,
        status: 'failed',
        parameters: {},
        metrics: {},
        trainingRows: 0,
        outputRows: 0,
        durationMs: Date.now() - started,
        backend: 'none',
        codeVersion: version,
        runId: input.runId,
        error: message,
      }).catch(() => undefined);
      throw ApplicationFailure.create({
        message,
        type: 'ModelFailed',
        nonRetryable: true,
        cause: error as Error,
      });
    }
  };
}
