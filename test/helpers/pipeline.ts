import crypto from 'node:crypto';
import type pg from 'pg';
import type { DailyPipelineInput, DailyPipelineResult } from '../../workflows/daily-pipeline';
import { DailyPipelineWorkflow } from '../../workflows';
import type { TestWorker } from './temporal';

/** Runs the daily pipeline for `date` on the test worker and waits for its result. */
export async function runDailyPipeline(
  worker: TestWorker,
  input: DailyPipelineInput,
  workflowId = `daily-test-${crypto.randomUUID()}`,
): Promise<DailyPipelineResult> {
  return worker.client.workflow.execute(DailyPipelineWorkflow, {
    workflowId,
    taskQueue: worker.taskQueues.etl,
    args: [{ sizes: { chunkRows: 500, batchRows: 200 }, ...input }],
  });
}

/** Rows of a query as plain objects, sorted by their JSON, for comparing two databases. */
export async function rowsOf(db: pg.Pool, sql: string, params: unknown[] = []): Promise<string[]> {
  const { rows } = await db.query(sql, params);
  return rows.map((row) => JSON.stringify(row)).sort();
}

/** The xmin of every row of the core tables: unchanged xmins mean nothing was written. */
export async function coreFingerprint(warehouse: pg.Pool): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of ['dim_date', 'dim_customer', 'dim_product', 'fact_order_line', 'fact_payment']) {
    const { rows } = await warehouse.query<{ f: string; n: number }>(
      `select md5(coalesce(string_agg(xmin::text || ':' || ctid::text, ',' order by ctid), '')) as f, count(*)::int as n
         from core.${table}`,
    );
    out[table] = `${rows[0].n}/${rows[0].f}`;
  }
  return out;
}
