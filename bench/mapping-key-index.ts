/**
 * `npx tsx bench/mapping-key-index.ts`: what an index on a staged table's key does for a mapping
 * written with correlated subqueries (issue 12, defect 7). A 16,000-order source as a full load
 * stages it — 16,000 orders, 48,000 order items keyed (order_id, order_item_id), 3,000 products, no
 * index — mapped once without and once with the key indexes cartflow now builds after a full load.
 * Starts its own Postgres under a temporary directory; prints figures, asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../lib/embedded/postgres';
import { findFreePort } from '../lib/embedded/ports';

/** Per order, how many items it has: a subquery over order_items by the first column of its key. */
const ORDERS = `
  select o.order_id, o.customer_id, o.placed_at,
         (select count(*) from order_items i where i.order_id = o.order_id) as items
    from orders o`;
/** Per order item, its product's list price: a subquery over products by their key. */
const ORDER_LINES = `
  select i.order_id || '-' || i.order_item_id as order_line_id, i.order_id, i.product_id, 1 as quantity,
         (select p.price from products p where p.product_id = i.product_id) as list_price, i.price as unit_price
    from order_items i`;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-bench-keys-'));
  const server = await startEmbeddedPostgres({
    dir: path.join(dir, 'postgres'),
    port: await findFreePort(),
    databases: ['bench'],
    logFile: path.join(dir, 'postgres.log'),
  });
  const db = new pg.Client({ connectionString: server.url('bench') });
  await db.connect();
  try {
    await db.query(`
      create table products as
        select g as product_id, 'cat ' || (g % 70) as category, (g % 90) + 0.5 as price from generate_series(1, 3000) g;
      create table orders as
        select g as order_id, 1 + g % 9000 as customer_id, timestamptz '2026-01-01' + g * interval '30 minutes' as placed_at
          from generate_series(1, 16000) g;
      create table order_items as
        select 1 + (g - 1) / 3 as order_id, 1 + (g - 1) % 3 as order_item_id, 1 + g % 3000 as product_id,
               (g % 40) + 1.25 as price
          from generate_series(1, 48000) g;
      analyze`);
    // Every column evaluated, as the canonical insert does (its levels are fenced with offset 0).
    const time = async (sql: string) => {
      const started = Date.now();
      await db.query(`select count(*), sum(length(m::text)) from (${sql} offset 0) m`);
      return Date.now() - started;
    };
    const report = async (label: string) => {
      const orders = await time(ORDERS);
      const lines = await time(ORDER_LINES);
      console.log(`${label.padEnd(22)} orders mapping ${orders} ms, order lines mapping ${lines} ms`);
    };
    await report('without indexes:');
    const started = Date.now();
    await db.query(`
      create index on order_items (order_id, order_item_id);
      create index on products (product_id);
      create index on orders (order_id)`);
    console.log(`building the three key indexes: ${Date.now() - started} ms`);
    await report('with the key indexes:');
  } finally {
    await db.end();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
