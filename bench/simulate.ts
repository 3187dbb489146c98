/**
 * How fast `cartflow simulate` fills a shop, and whether a seed really gives the same shop twice.
 *
 *   npx tsx bench/simulate.ts [customers] [days]      (default 10000 × 365, seed 1)
 *
 * Starts its own embedded Postgres in a temporary folder, simulates the same seed into two fresh,
 * migrated shop databases, and prints each run's time and rows per second, the share of the time
 * spent generating rows (a generation-only pass measured in the same run is the reference), and
 * whether the md5 fingerprints of all tables are identical.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createPool } from '../lib/db';
import { startEmbeddedPostgres } from '../lib/embedded/postgres';
import { findFreePort } from '../lib/embedded/ports';
import { migrateDatabase } from '../lib/migrate';
import {
  ShopHistory,
  shopFingerprint,
  simulateShop,
  type ShopFingerprint,
  type SimulateSummary,
} from '../simulator';

const SEED = 1;
const END_DATE = '2026-10-31';

function totalRows(summary: SimulateSummary): number {
  return (
    summary.customers +
    summary.products +
    summary.orders +
    summary.orderLines +
    summary.payments +
    summary.siteEvents
  );
}

function count(rows: Iterable<unknown>): number {
  const iterator = rows[Symbol.iterator]();
  let counted = 0;
  while (!iterator.next().done) counted++;
  return counted;
}

/** Seconds to generate every row of every table in memory, written nowhere: the floor for a load. */
function generationOnlySeconds(customers: number, days: number): number {
  const started = performance.now();
  const history = new ShopHistory({ customers, days, seed: SEED, endDate: END_DATE });
  let rows = count(history.customers()) + count(history.products());
  // The loader replays the days once per day-based table; so does this reference.
  for (let pass = 0; pass < 4; pass++) for (const day of history.days()) rows += day.orders.length;
  if (rows < 0) throw new Error('unreachable; keeps the loops from being optimised away');
  return (performance.now() - started) / 1000;
}

async function main(): Promise<void> {
  const customers = Number(process.argv[2] ?? 10_000);
  const days = Number(process.argv[3] ?? 365);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-bench-simulate-'));
  fs.chmodSync(home, 0o755); // as root, Postgres runs as the postgres user, which must enter the folder
  const databases = ['shop_run_1', 'shop_run_2'];
  const postgres = await startEmbeddedPostgres({
    dir: path.join(home, 'postgres'),
    port: await findFreePort(),
    databases,
    logFile: path.join(home, 'postgres.log'),
  });
  try {
    console.log(`simulate ${customers} customers × ${days} days, seed ${SEED}, ending ${END_DATE}`);
    const fingerprints: ShopFingerprint[] = [];
    for (const [run, database] of databases.entries()) {
      await migrateDatabase(postgres.url(database), 'shop');
      const shop = createPool(postgres.url(database), 'bench-simulate', 2);
      try {
        const summary = await simulateShop(shop, { customers, days, seed: SEED, endDate: END_DATE });
        const rows = totalRows(summary);
        console.log(
          `run ${run + 1}: ${summary.seconds.toFixed(1)} s, ${rows} rows, ${Math.round(rows / summary.seconds)} rows/s ` +
            `(customers ${summary.customers}, products ${summary.products}, orders ${summary.orders}, ` +
            `order_lines ${summary.orderLines}, payments ${summary.payments}, site_events ${summary.siteEvents})`,
        );
        if (run === 0) console.log(`dirt: ${JSON.stringify(summary.dirt)}`);
        fingerprints.push(await shopFingerprint(shop));
      } finally {
        await shop.end();
      }
    }
    const generation = generationOnlySeconds(customers, days);
    console.log(`reference: generating the same rows without writing them takes ${generation.toFixed(1)} s`);
    const identical = JSON.stringify(fingerprints[0]) === JSON.stringify(fingerprints[1]);
    console.log(`fingerprints of all tables identical: ${identical ? 'yes' : 'NO'}`);
    if (!identical) console.log(JSON.stringify(fingerprints, null, 2));
    process.exitCode = identical ? 0 : 1;
  } finally {
    await postgres.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
