import crypto from 'node:crypto';
import type pg from 'pg';
import type { DailyPipelineInput, DailyPipelineResult } from '../../workflows/daily-pipeline';
import { DailyPipelineWorkflow } from '../../workflows';
import { createPool } from '../../lib/db';
import { createTestDeps, type TestDeps } from './deps';
import { createTestDatabases, type TestDatabases } from './services';
import { startTestWorker, type TestWorker } from './temporal';

/** What a pipeline test runs against: its own databases, a pool on its shop, and a real worker. */
export interface PipelineStack {
  databases: TestDatabases;
  deps: TestDeps;
  shop: pg.Pool;
  worker: TestWorker;
  /** Stops the worker, closes the pools and drops the databases. */
  stop(): Promise<void>;
}

export async function startPipelineStack(name: string): Promise<PipelineStack> {
  const databases = await createTestDatabases(name);
  const deps = createTestDeps(databases);
  const shop = createPool(databases.shopUrl, 'test-shop', 2);
  const closePools = async () => {
    await shop.end();
    await deps.close();
    await databases.drop();
  };
  const worker = await startTestWorker(deps).catch(async (error: unknown) => {
    await closePools();
    throw error;
  });
  return {
    databases,
    deps,
    shop,
    worker,
    stop: async () => {
      await worker.stop();
      await closePools();
    },
  };
}

/**
 * Runs the daily pipeline for `date` on the test worker and waits for its result. The models step is
 * off unless the input names `models`: the tests of the models ask for them and check them.
 */
export async function runDailyPipeline(
  worker: TestWorker,
  input: DailyPipelineInput,
  workflowId = `daily-test-${crypto.randomUUID()}`,
): Promise<DailyPipelineResult> {
  return worker.client.workflow.execute(DailyPipelineWorkflow, {
    workflowId,
    taskQueue: worker.taskQueues.etl,
    args: [{ sizes: { chunkRows: 500, batchRows: 200 }, models: false, ...input }],
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

/**
 * Fills an empty demo-shop database by SQL alone, fast, with exact numbers: `customers` customers,
 * 100 products, `orders` orders over `days` days ending 2026-11-20, and `linesPerOrder` lines each
 * (distinct products within an order, so none looks double-submitted). No dirt.
 */
export async function fillShop(
  shop: pg.Pool,
  options: { customers: number; orders: number; linesPerOrder: number; days?: number },
): Promise<{ orderLines: number }> {
  const days = options.days ?? 20;
  await shop.query(
    `insert into customers (customer_id, first_name, last_name, email, address_line, city, country, signup_at)
     select g, 'First' || g, 'Last' || g, 'c' || g || '@example.com', g || ' Main Street', 'Town ' || (g % 50), 'DE',
            timestamptz '2026-01-01T00:00:00Z'
       from generate_series(1, $1::int) g`,
    [options.customers],
  );
  await shop.query(
    `insert into products (product_id, sku, name, category, brand, price)
     select g, 'SKU-' || g, 'Product ' || g, 'Category ' || (g % 7), 'Brand ' || (g % 5), (g % 50) + 0.99
       from generate_series(1, 100) g`,
  );
  // Spread evenly over the `days` before 2026-11-21, the newest (order 1) a second before midnight.
  await shop.query(
    `insert into orders (order_id, customer_id, status, placed_at)
     select g, 1 + g % $2::int, (array['placed', 'paid', 'shipped', 'cancelled', 'returned'])[1 + g % 5],
            timestamptz '2026-11-21T00:00:00Z' - ((g - 1)::bigint * $3::int * 86400 / $1::int + 1) * interval '1 second'
       from generate_series(1, $1::int) g`,
    [options.orders, options.customers, days],
  );
  const lines = options.orders * options.linesPerOrder;
  await shop.query(
    `insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, discount)
     select g, 1 + (g - 1) / $2::int, 1 + (g - 1) % 100, 1 + g % 4, ((g % 40) + 1) * 1.25, (g % 3) * 0.05
       from generate_series(1, $1::int) g`,
    [lines, options.linesPerOrder],
  );
  await shop.query('analyze');
  return { orderLines: lines };
}

/** The md5 of a whole table's rows in key order: equal on both sides means equal tables. */
export async function tableDigest(
  db: pg.Pool,
  table: string,
  key: string,
): Promise<{ rows: number; digest: string }> {
  const { rows } = await db.query<{ rows: number; digest: string }>(
    `select count(*)::int as rows, md5(coalesce(string_agg(t::text, E'\\n' order by ${key}), '')) as digest from ${table} t`,
  );
  return rows[0];
}
