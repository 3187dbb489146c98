/**
 * `npm run bench:el`: the daily pipeline's extract-load and the whole pipeline, timed on this machine
 * against references measured in the same run. It starts its own Postgres and Temporal under a
 * temporary directory, runs the production worker (`cartflow worker --queue etl`) as a child process,
 * and prints figures; it asserts no timings.
 *
 *   1. 5,000,000 order lines in a shop database: a raw binary `COPY … TO STDOUT | COPY … FROM STDIN`
 *      pipe into an unindexed table of the warehouse, then cartflow's extract-load of that table
 *      into staging (ExtractLoadWorkflow: chunks, batches, checkpoints, a primary key): rows/s, ratio.
 *   2. The incremental re-run after 1 % of the rows changed, against the full load's time.
 *   4. (`mysql`) 1,000,000 order lines in a MariaDB database: the raw transfer — the `mariadb` client's
 *      tab-separated output (`--batch --quick`) piped into `COPY … FROM STDIN` — then cartflow's
 *      extract-load of that table (the same engine, its MySQL dialect); printed beside part 1's figures.
 *   3. The whole DailyPipelineWorkflow over a shop of 100,000 customers and 1,000,000 order lines:
 *      the first run, a second with nothing changed and a third after 1 % of the lines (and their
 *      orders) changed, each against the first, and the worker's peak memory.
 *
 * Options (environment): BENCH_EL_ROWS (default 5,000,000), BENCH_DAY_CUSTOMERS (100,000),
 * BENCH_DAY_LINES (1,000,000), BENCH_MYSQL_ROWS (1,000,000), BENCH_LOAD_CONCURRENCY (default: the workflow's, 4), BENCH_STEPS (how
 * many of each transform's slowest steps to print, 8), BENCH_EXPLAIN (milliseconds: a fourth run after
 * another 1 % changed, whose statements in the shop and warehouse databases slower than that are
 * logged with their plans by auto_explain, with ANALYZE and BUFFERS, into BENCH_EXPLAIN_LOG, default
 * /tmp/cartflow-bench-explain.log; a profile, not a measure: the timing it adds slows that run),
 * BENCH_KEEP (seconds to keep part 3's databases up at the end, printing their URLs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { DEMO_SHOP_SOURCE } from '../sources/demo-shop';
import { resetSourceTables, saveSource } from '../sources/registry';
import { createPool } from '../lib/db';
import { startEmbeddedPostgres } from '../lib/embedded/postgres';
import { findFreePort } from '../lib/embedded/ports';
import { startScratchTemporal } from '../lib/embedded/temporal';
import { migrateDatabase } from '../lib/migrate';
import { TASK_QUEUES } from '../contracts/names';
import { ensureSearchAttributes } from '../lib/temporal';
import { peakMemoryMb, startWorker, stopWorker } from './worker-process';
import { DailyPipelineWorkflow, ExtractLoadWorkflow } from '../workflows';
import { generateShop } from './generated-shop';
import { startTestMariaDb } from '../test/helpers/mariadb';

/** Each dialect's raw reference and cartflow's extract-load, for the side-by-side table at the end. */
const sideBySide: { dialect: string; rows: number; rawMs: number; cartflowMs: number }[] = [];

const EL_ROWS = Number(process.env.BENCH_EL_ROWS ?? 5_000_000);
const DAY_CUSTOMERS = Number(process.env.BENCH_DAY_CUSTOMERS ?? 100_000);
const DAY_LINES = Number(process.env.BENCH_DAY_LINES ?? 1_000_000);
const MYSQL_ROWS = Number(process.env.BENCH_MYSQL_ROWS ?? 1_000_000);
const LOAD_CONCURRENCY = process.env.BENCH_LOAD_CONCURRENCY
  ? Number(process.env.BENCH_LOAD_CONCURRENCY)
  : undefined;
/** How many of a transform's slowest steps each run prints (BENCH_STEPS, default 8). */
const STEPS_SHOWN = Number(process.env.BENCH_STEPS ?? 8);
/** BENCH_EXPLAIN: a fourth run's statements slower than this many ms are logged with their plans. */
const EXPLAIN_MS = process.env.BENCH_EXPLAIN ? Number(process.env.BENCH_EXPLAIN) : undefined;
const EXPLAIN_LOG = process.env.BENCH_EXPLAIN_LOG ?? path.join(os.tmpdir(), 'cartflow-bench-explain.log');
/** BENCH_KEEP: seconds to keep part 3's databases up after its runs, for a look at them with psql. */
const KEEP_S = Number(process.env.BENCH_KEEP ?? 0);
/** Which parts to run, e.g. "1,mysql" (default all): part 2 needs part 1. */
const PARTS = new Set((process.env.BENCH_PARTS ?? '1,2,mysql,3').split(',').map((p) => p.trim()));

const say = (line = '') => process.stdout.write(line + '\n');
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const perSecond = (rows: number, ms: number) =>
  `${Math.round(rows / (ms / 1000)).toLocaleString('en-US')} rows/s`;

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

/** `rows` order lines in an empty shop database, by SQL alone (foreign-key triggers off while generating). */
async function generateOrderLines(shop: pg.Pool, rows: number): Promise<void> {
  const client = await shop.connect();
  try {
    await client.query('set session_replication_role = replica');
    await client.query(`
      insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, discount, created_at, updated_at)
      select g, 1 + (g - 1) / 4, 1 + (g - 1) % 1000, 1 + g % 4, ((g % 40) + 1) * 1.25, (g % 3) * 0.05,
             timestamptz '2025-11-01T00:00:00Z' + g * interval '5 seconds',
             timestamptz '2025-11-01T00:00:00Z' + g * interval '5 seconds'
        from generate_series(1, ${rows}) g`);
  } finally {
    client.release();
  }
  await shop.query('vacuum analyze order_lines');
}

async function tableDigest(db: pg.Pool, table: string): Promise<string> {
  const { rows } = await db.query<{ d: string }>(
    `select count(*) || ':' || md5(string_agg(md5(t::text), '' order by order_line_id)) as d from ${table} t`,
  );
  return rows[0].d;
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-bench-el-'));
  fs.chmodSync(home, 0o755);
  say(
    `cartflow extract-load benchmark (${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM; state in ${home}; ` +
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} at the start)`,
  );
  const postgres = await startEmbeddedPostgres({
    dir: path.join(home, 'postgres'),
    port: await findFreePort(),
    databases: ['el_shop', 'el_warehouse', 'day_shop', 'day_warehouse'],
    logFile: path.join(home, 'postgres.log'),
  });
  const temporal = await startScratchTemporal(home);
  const connection = await Connection.connect({ address: temporal.address });
  await ensureSearchAttributes(connection, 'default');
  const client = new Client({ connection, namespace: 'default' });
  const pools: pg.Pool[] = [];
  const pool = (database: string) => {
    const created = createPool(postgres.url(database), 'bench', 4);
    pools.push(created);
    return created;
  };
  let worker: ChildProcess | undefined;
  let cleaning: Promise<void> | undefined;
  // Whatever happens, Ctrl-C included, nothing this benchmark started outlives it.
  const cleanUp = () =>
    (cleaning ??= (async () => {
      if (worker) await stopWorker(worker);
      await Promise.all(pools.map((p) => p.end()));
      await connection.close();
      await temporal.stop();
      await postgres.stop();
      fs.rmSync(home, { recursive: true, force: true });
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      process.stderr.write(`${signal}: stopping the benchmark's processes\n`);
      void cleanUp().finally(() => process.exit(130));
    });
  const workerEnv = (shop: string, warehouse: string) => ({
    CARTFLOW_HOME: path.join(home, 'cartflow'),
    CARTFLOW_WAREHOUSE_URL: postgres.url(warehouse),
    CARTFLOW_SHOP_URL: postgres.url(shop),
    TEMPORAL_ADDRESS: temporal.address,
    SMTP_URL: 'smtp://127.0.0.1:1',
  });

  try {
    for (const database of ['el_shop', 'day_shop']) await migrateDatabase(postgres.url(database), 'shop');
    for (const database of ['el_warehouse', 'day_warehouse'])
      await migrateDatabase(postgres.url(database), 'warehouse');

    // 1. Extract-load of a 5M-row table against a raw binary COPY pipe.
    if (PARTS.has('1')) {
      say('');
      say(`1. Extract-load of ${EL_ROWS.toLocaleString('en-US')} order lines`);
      const elShop = pool('el_shop');
      const elWarehouse = pool('el_warehouse');
      const [, generated] = await timed(() => generateOrderLines(elShop, EL_ROWS));
      say(`   generated the table in the shop database in ${seconds(generated)}`);

      const columns =
        'order_line_id, order_id, product_id, quantity, unit_price, discount, created_at, updated_at';
      const rawPipe = async () => {
        await elWarehouse.query(`drop table if exists raw_order_lines`);
        await elWarehouse.query(`
        create table raw_order_lines (order_line_id bigint, order_id bigint, product_id bigint, quantity integer,
          unit_price numeric(12, 2), discount numeric(5, 4), created_at timestamptz, updated_at timestamptz)`);
        const source = await elShop.connect();
        const target = await elWarehouse.connect();
        try {
          const [, ms] = await timed(async () => {
            const into = target.query(
              copyFrom(`copy raw_order_lines (${columns}) from stdin with (format binary)`),
            );
            await pipeline(
              source.query(copyTo(`copy order_lines (${columns}) to stdout with (format binary)`)),
              into,
            );
          });
          return ms;
        } finally {
          source.release();
          target.release();
        }
      };
      const raw = Math.min(await rawPipe(), await rawPipe());
      say(`   raw binary COPY pipe (best of 2):       ${seconds(raw)}  ${perSecond(EL_ROWS, raw)}`);

      await saveSource(elWarehouse, {
        ...DEMO_SHOP_SOURCE,
        name: 'bench',
        connection: { kind: 'postgres', url: postgres.url('el_shop') },
        tables: [{ name: 'order_lines', primaryKey: ['order_line_id'], cursor: 'updated_at' }],
      });
      worker = await startWorker(workerEnv('el_shop', 'el_warehouse'), ['etl']);
      const extractLoad = async () => {
        const [result, ms] = await timed(() =>
          client.workflow.execute(ExtractLoadWorkflow, {
            workflowId: `bench-el-${Date.now()}`,
            taskQueue: TASK_QUEUES.etl,
            args: [{ sources: ['bench'], loadConcurrency: LOAD_CONCURRENCY }],
          }),
        );
        return { load: result.loads[0], ms };
      };
      const fullRuns = [];
      for (let i = 0; i < 2; i++) {
        if (i > 0) {
          await resetSourceTables(elWarehouse, 'bench');
        }
        fullRuns.push(await extractLoad());
      }
      const full = fullRuns.reduce((best, run) => (run.ms < best.ms ? run : best));
      say(
        `   cartflow extract-load (best of 2):      ${seconds(full.ms)}  ${perSecond(full.load.rows, full.ms)}` +
          `  (${full.load.mode}, ${full.load.pieces} chunks, ${LOAD_CONCURRENCY ?? 4} at a time; all runs: ${fullRuns.map((r) => seconds(r.ms)).join(', ')})`,
      );
      say(`   ratio cartflow / raw pipe throughput:   ${(raw / full.ms).toFixed(2)}   (target ≥ 0.8)`);
      sideBySide.push({ dialect: 'Postgres', rows: full.load.rows, rawMs: raw, cartflowMs: full.ms });
      say(
        `   staging equals the source:              ${(await tableDigest(elWarehouse, 'staging_bench.order_lines__current')) === (await tableDigest(elShop, 'order_lines')) ? 'yes' : 'NO'}`,
      );

      // 2. The incremental re-run after 1 % of the rows changed.
      if (PARTS.has('2')) {
        say('');
        say(
          '2. Incremental re-run after 1 % of the rows changed: every hundredth row, one in every page (the worst case)',
        );
        const [changed, updateMs] = await timed(
          async () =>
            (
              await elShop.query(
                `update order_lines set quantity = quantity + 1 where order_line_id % 100 = 0`,
              )
            ).rowCount ?? 0,
        );
        say(`   changed ${changed.toLocaleString('en-US')} rows at the source in ${seconds(updateMs)}`);
        const incremental = await extractLoad();
        say(
          `   cartflow incremental extract-load:      ${seconds(incremental.ms)}  (${incremental.load.mode}, ${incremental.load.rows.toLocaleString('en-US')} rows in ${incremental.load.pieces} batch(es))`,
        );
        say(
          `   incremental / full load time:           ${((100 * incremental.ms) / full.ms).toFixed(1)} %   (target < 5 %)`,
        );
        say(
          `   staging equals the source:              ${(await tableDigest(elWarehouse, 'staging_bench.order_lines__current')) === (await tableDigest(elShop, 'order_lines')) ? 'yes' : 'NO'}`,
        );
        // The same amount of change where a real shop's changes fall: on its most recent rows.
        const recent =
          (
            await elShop.query(
              `update order_lines set quantity = quantity + 1 where order_line_id > ${EL_ROWS - EL_ROWS / 100}`,
            )
          ).rowCount ?? 0;
        const clustered = await extractLoad();
        say(
          `   the same for the most recent 1 % (${recent.toLocaleString('en-US')} rows): ${seconds(clustered.ms)}, ` +
            `${((100 * clustered.ms) / full.ms).toFixed(1)} % of the full load's time`,
        );
        say(
          `   staging equals the source:              ${(await tableDigest(elWarehouse, 'staging_bench.order_lines__current')) === (await tableDigest(elShop, 'order_lines')) ? 'yes' : 'NO'}`,
        );
        say(`   worker peak memory so far:              ${peakMemoryMb(worker.pid!)?.toFixed(0) ?? '?'} MB`);
      }
      await stopWorker(worker);
      worker = undefined;
      await elShop.query('drop table order_lines cascade');
      await elWarehouse.query('drop schema staging_bench cascade; drop table raw_order_lines');
    }

    // 4. Extract-load of a MariaDB table against the raw transfer of its rows.
    if (PARTS.has('mysql')) {
      say('');
      say(`4. Extract-load of ${MYSQL_ROWS.toLocaleString('en-US')} order lines from MariaDB`);
      const mariadb = await startTestMariaDb();
      const elWarehouse = pool('el_warehouse');
      try {
        await mariadb.createDatabase('bench_till');
        const till = await mariadb.connect('bench_till');
        const [, generated] = await timed(async () => {
          await till.query(`
            create table order_lines (order_line_id bigint primary key, order_id bigint not null,
              product_id bigint not null, quantity int not null, unit_price decimal(12, 2) not null,
              discount decimal(5, 4) not null, created_at timestamp(6) not null, updated_at timestamp(6) not null)`);
          await till.query(`
            insert into order_lines
            select seq, 1 + (seq - 1) div 4, 1 + (seq - 1) % 1000, 1 + seq % 4, ((seq % 40) + 1) * 1.25, (seq % 3) * 0.05,
                   timestamp '2025-11-01 00:00:00' + interval (seq * 5) second,
                   timestamp '2025-11-01 00:00:00' + interval (seq * 5) second
              from seq_1_to_${MYSQL_ROWS}`);
          await till.query('analyze table order_lines');
        });
        say(`   generated the table in MariaDB in ${seconds(generated)}`);
        const columns =
          'order_line_id, order_id, product_id, quantity, unit_price, discount, created_at, updated_at';
        const rawTransfer = async () => {
          await elWarehouse.query(`drop table if exists raw_my_order_lines`);
          await elWarehouse.query(`
            create table raw_my_order_lines (order_line_id bigint, order_id bigint, product_id bigint, quantity integer,
              unit_price numeric(12, 2), discount numeric(5, 4), created_at timestamptz, updated_at timestamptz)`);
          const target = await elWarehouse.connect();
          try {
            const [, ms] = await timed(async () => {
              // The client's batch output is COPY's text format: tab-separated, \t \n \\ escaped (no nulls here).
              const client = spawn(
                'mariadb',
                [
                  '--no-defaults',
                  '-h',
                  '127.0.0.1',
                  '-P',
                  String(mariadb.port),
                  '-u',
                  'root',
                  '--batch',
                  '--skip-column-names',
                  '--quick',
                  'bench_till',
                  '-e',
                  `select ${columns} from order_lines`,
                ],
                { stdio: ['ignore', 'pipe', 'inherit'] },
              );
              const exited = new Promise<void>((resolve, reject) =>
                client.once('exit', (code) =>
                  code === 0 ? resolve() : reject(new Error(`mariadb exited with ${code}`)),
                ),
              );
              await pipeline(
                client.stdout!,
                target.query(copyFrom(`copy raw_my_order_lines (${columns}) from stdin with (format text)`)),
              );
              await exited;
            });
            return ms;
          } finally {
            target.release();
          }
        };
        const raw = Math.min(await rawTransfer(), await rawTransfer());
        say(`   raw mariadb | COPY transfer (best of 2): ${seconds(raw)}  ${perSecond(MYSQL_ROWS, raw)}`);

        await saveSource(elWarehouse, {
          ...DEMO_SHOP_SOURCE,
          name: 'bench_my',
          connection: { kind: 'mysql', url: mariadb.url('bench_till') },
          tables: [{ name: 'order_lines', primaryKey: ['order_line_id'], cursor: 'updated_at' }],
        });
        worker = await startWorker(workerEnv('el_shop', 'el_warehouse'), ['etl']);
        const runs = [];
        for (let i = 0; i < 2; i++) {
          if (i > 0) await resetSourceTables(elWarehouse, 'bench_my');
          const [result, ms] = await timed(() =>
            client.workflow.execute(ExtractLoadWorkflow, {
              workflowId: `bench-el-mysql-${Date.now()}`,
              taskQueue: TASK_QUEUES.etl,
              args: [{ sources: ['bench_my'], loadConcurrency: LOAD_CONCURRENCY }],
            }),
          );
          runs.push({ load: result.loads[0], ms });
        }
        const full = runs.reduce((best, run) => (run.ms < best.ms ? run : best));
        say(
          `   cartflow extract-load (best of 2):       ${seconds(full.ms)}  ${perSecond(full.load.rows, full.ms)}` +
            `  (${full.load.mode}, ${full.load.pieces} chunks; all runs: ${runs.map((r) => seconds(r.ms)).join(', ')})`,
        );
        say(`   ratio cartflow / raw transfer:           ${(raw / full.ms).toFixed(2)}`);
        sideBySide.push({ dialect: 'MariaDB', rows: full.load.rows, rawMs: raw, cartflowMs: full.ms });
        const [[atSource]] = (await till.query(
          `select count(*) as n, sum(order_line_id) as ids, sum(unit_price * quantity) as amount from order_lines`,
        )) as unknown as [[{ n: number; ids: string; amount: string }]];
        const staged = (
          await elWarehouse.query<{ n: string; ids: string; amount: string }>(
            `select count(*) as n, sum(order_line_id)::text as ids, sum(unit_price * quantity)::text as amount
               from staging_bench_my.order_lines__current`,
          )
        ).rows[0];
        say(
          `   staging holds the source's rows:        ${Number(staged.n) === Number(atSource.n) && staged.ids === String(atSource.ids) && staged.amount === String(atSource.amount) ? 'yes' : 'NO'} (count, sum of keys, sum of amounts)`,
        );
        await till.end();
        await stopWorker(worker);
        worker = undefined;
        await elWarehouse.query('drop schema staging_bench_my cascade; drop table raw_my_order_lines');
      } finally {
        await mariadb.stop();
      }
    }
    if (sideBySide.length > 0) {
      say('');
      say('   extract-load by source dialect   rows        raw reference        cartflow             ratio');
      for (const r of sideBySide)
        say(
          `   ${r.dialect.padEnd(32)} ${r.rows.toLocaleString('en-US').padEnd(11)} ${perSecond(r.rows, r.rawMs).padEnd(20)} ${perSecond(r.rows, r.cartflowMs).padEnd(20)} ${(r.rawMs / r.cartflowMs).toFixed(2)}`,
        );
      say("   (raw references: Postgres a binary COPY pipe; MariaDB its client's batch output into COPY)");
    }

    // 3. The whole daily pipeline over 100k customers and 1M order lines.
    if (PARTS.has('3')) {
      say('');
      say(
        `3. The daily pipeline over ${DAY_CUSTOMERS.toLocaleString('en-US')} customers and ${DAY_LINES.toLocaleString('en-US')} order lines`,
      );
      const dayShop = pool('day_shop');
      const [, shopMs] = await timed(() => generateShop(dayShop, DAY_CUSTOMERS, DAY_LINES));
      const counts = (
        await dayShop.query<{ c: number; o: number; l: number; p: number }>(
          `select (select count(*) from customers)::int as c, (select count(*) from orders)::int as o,
                (select count(*) from order_lines)::int as l, (select count(*) from payments)::int as p`,
        )
      ).rows[0];
      say(
        `   generated ${counts.c.toLocaleString('en-US')} customers, ${counts.o.toLocaleString('en-US')} orders, ` +
          `${counts.l.toLocaleString('en-US')} order lines, ${counts.p.toLocaleString('en-US')} payments in ${seconds(shopMs)}`,
      );
      worker = await startWorker(workerEnv('day_shop', 'day_warehouse'), ['etl']);
      const runDay = async (label: string) => {
        const [result, ms] = await timed(() =>
          client.workflow.execute(DailyPipelineWorkflow, {
            workflowId: `bench-daily-${Date.now()}`,
            taskQueue: TASK_QUEUES.etl,
            args: [{ date: '2026-11-20', loadConcurrency: LOAD_CONCURRENCY, models: false }], // bench:models times the models
          }),
        );
        const s = result.summary;
        const t = s.transforms[0];
        const r = s.reconciliations[0];
        say(
          `   ${label.padEnd(38)} ${seconds(ms)}   (target < 5 min)` +
            `\n      loaded ${s.loads.map((l) => `${l.table} ${l.rows.toLocaleString('en-US')}`).join(', ')}` +
            `\n      facts: ${t.orderLines.inserted.toLocaleString('en-US')} inserted, ${t.orderLines.updated.toLocaleString('en-US')} updated; ` +
            `quarantined ${
              Object.entries(s.quarantinedByRule)
                .map(([rule, n]) => `${rule} ${n}`)
                .join(', ') || 'none'
            }` +
            `\n      transform: ${t.path ? `${t.path.kind} (${t.path.reason})` : '?'} in ${seconds(t.durationMs ?? 0)}` +
            `\n        slowest steps: ${Object.entries({ ...t.mappingMs, ...t.stepsMs })
              .sort((a, b) => b[1] - a[1])
              .slice(0, STEPS_SHOWN)
              .map(([step, stepMs]) => `${step} ${stepMs} ms`)
              .join(', ')}` +
            `\n      reconciliation: ${r.mismatchedDays === 0 ? `all ${r.days} days match` : `${r.mismatchedDays} days differ`}, ` +
            `revenue ${r.source_amount}; ${r.checked ?? ''} in ${seconds(r.durationMs ?? 0)}`,
        );
        return ms;
      };
      const full = await runDay('first run (everything new):');
      const unchanged = await runDay('second run (nothing changed):');
      // One line in a hundred changed at the source (the trigger moves its updated_at), with its order.
      const [changedLines] = await timed(async () => {
        const { rowCount } = await dayShop.query(
          `update order_lines set quantity = quantity + 1 where order_line_id % 100 = 42 and quantity > 0`,
        );
        await dayShop.query(
          `update orders set status = 'shipped' where order_id in (select order_id from order_lines where order_line_id % 100 = 42)`,
        );
        return rowCount ?? 0;
      });
      say(
        `   changed ${changedLines.toLocaleString('en-US')} order lines (1 %) and their orders at the source`,
      );
      const onePercent = await runDay('third run (1 % changed):');
      if (EXPLAIN_MS !== undefined) {
        // Profiled apart: another 1 % changed, its slow statements logged with their plans, so the
        // timing auto_explain adds stays out of the third run's figure.
        if (!Number.isInteger(EXPLAIN_MS) || EXPLAIN_MS < 0)
          throw new Error(`BENCH_EXPLAIN must be a number of milliseconds, not ${process.env.BENCH_EXPLAIN}`);
        for (const database of ['day_shop', 'day_warehouse'])
          for (const [name, value] of [
            ['session_preload_libraries', 'auto_explain'],
            ['auto_explain.log_min_duration', String(EXPLAIN_MS)],
            ['auto_explain.log_analyze', 'on'],
            ['auto_explain.log_buffers', 'on'],
            ['auto_explain.log_nested_statements', 'on'],
          ])
            await dayShop.query(`alter database ${database} set ${name} = '${value}'`);
        await dayShop.query(
          `update order_lines set quantity = quantity + 1 where order_line_id % 100 = 43 and quantity > 0`,
        );
        await dayShop.query(
          `update orders set status = 'returned' where order_id in (select order_id from order_lines where order_line_id % 100 = 43)`,
        );
        // The worker's pooled connections close after 10 s idle; new ones load auto_explain.
        await new Promise((resolve) => setTimeout(resolve, 11_000));
        const logFile = path.join(home, 'postgres.log');
        const logFrom = fs.statSync(logFile).size;
        await runDay('fourth run (another 1 %, profiled):');
        fs.writeFileSync(EXPLAIN_LOG, fs.readFileSync(logFile).subarray(logFrom));
        say(`   the fourth run's statements over ${EXPLAIN_MS} ms, with their plans: ${EXPLAIN_LOG}`);
      }
      say(
        `   unchanged day / full day:               ${((100 * unchanged) / full).toFixed(1)} %   (target ≤ 10 %)` +
          `\n   1 %-changed day / full day:             ${((100 * onePercent) / full).toFixed(1)} %   (target ≤ 15 %)`,
      );
      say(
        `   load average now: ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} (1, 5, 15 min)`,
      );
      say(
        `   worker peak memory:                     ${peakMemoryMb(worker.pid!)?.toFixed(0) ?? '?'} MB   (target < 1 GB)`,
      );
      if (KEEP_S > 0) {
        const done = path.join(home, 'done');
        say(
          `   kept for ${KEEP_S} s (or until ${done} exists): ${postgres.url('day_warehouse')}, ${postgres.url('day_shop')}`,
        );
        for (let waited = 0; waited < KEEP_S && !fs.existsSync(done); waited++)
          await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  } finally {
    await cleanUp();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:el failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
