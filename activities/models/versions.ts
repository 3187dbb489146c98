import type pg from 'pg';
import type { ModelName } from '../../contracts/model-summary';

/** What a fit records in `ops.model_versions`. */
export interface ModelVersionRecord {
  model: ModelName;
  asOf: string;
  status: 'succeeded' | 'failed';
  parameters: Record<string, unknown>;
  metrics: Record<string, unknown>;
  trainingRows: number;
  outputRows: number;
  durationMs: number;
  backend: string;
  codeVersion: string;
  runId: string | undefined;
  error?: string;
}

export async function recordModelVersion(
  db: pg.ClientBase | pg.Pool,
  record: ModelVersionRecord,
): Promise<number> {
  const { rows } = await db.query<{ version_id: number }>(
    `insert into ops.model_versions
       (model, as_of, status, parameters, metrics, training_rows, output_rows, duration_ms, backend,
        code_version, run_id, error)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     returning version_id`,
    [
      record.model,
      record.asOf,
      record.status,
      JSON.stringify(record.parameters),
      JSON.stringify(record.metrics),
      record.trainingRows,
      record.outputRows,
      Math.round(record.durationMs),
      record.backend,
      record.codeVersion,
      record.runId ?? null,
      record.error ?? null,
    ],
  );
  return Number(rows[0].version_id);
}

/**
 * Replaces the date's rows of a mart in the caller's transaction: the new version's rows become
 * visible together at commit, and a failed fit rolls back to the last good ones.
 */
export async function clearMartDate(client: pg.ClientBase, mart: string, asOf: string): Promise<void> {
  await client.query(`delete from ${mart} where as_of = $1`, [asOf]);
}
