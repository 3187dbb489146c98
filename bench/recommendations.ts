/**
 * `npm run bench:recommendations`: the recommendations' quality and serving speed. It starts its own
 * Postgres and Temporal under a temporary directory, and cartflow's production commands as child
 * processes (`cartflow import`, `cartflow worker --queue etl ml`, `cartflow server`); it prints figures
 * and asserts nothing.
 *
 *   1. Quality: the Online Retail sample (../shared/data/online-retail-sample.csv.gz) imported with
 *      `cartflow import online-retail`, the daily run for the sample's last date with the
 *      recommendations model, and the fit's evaluation: HR@10 and NDCG@10 of the factorisation,
 *      co-occurrence and the blend, each against popularity (docs/models-recommendations.md).
 *   2. Serving: 100 concurrent clients against the running server, each sending its next request when
 *      the last one is answered, for BENCH_RECOMMENDATIONS_SECONDS (default 10) per endpoint: p50 and
 *      p99 latency and requests/s of GET /v1/customers/:id/recommendations (known customers, one in ten
 *      unknown) and GET /v1/products/:id/related, next to the same server's GET /health as reference.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { createPool } from '../lib/db';
import { startEmbeddedPostgres } from '../lib/embedded/postgres';
import { startSmtpSink } from '../lib/embedded/smtp';
import { findFreePort, waitForPort } from '../lib/embedded/ports';
import { startScratchTemporal } from '../lib/embedded/temporal';
import { migrateDatabase } from '../lib/migrate';
import { TASK_QUEUES } from '../lib/names';
import { ensureSearchAttributes } from '../lib/temporal';
import { DailyPipelineWorkflow } from '../workflows';

const projectRoot = path.resolve(__dirname, '..');
const SAMPLE = path.resolve(projectRoot, '../shared/data/online-retail-sample.csv.gz');
const CLIENTS = 100;
const SECONDS = Number(process.env.BENCH_RECOMMENDATIONS_SECONDS ?? 10);
const TOKEN = 'bench-recommendations-token';

const say = (line: string) => process.stdout.write(`${line}\n`);
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function startChild(args: string[], env: Record<string, string>, ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'cli/main.ts'), ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...env, CARTFLOW_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (data: Buffer) => {
      output += data.toString();
      if (output.includes(ready)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`cartflow ${args[0]} exited (${code}):\n${output}`)));
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** `CLIENTS` closed-loop clients for `SECONDS`: each sends its next request when the last is answered. */
async function load(base: string, paths: () => string, auth: boolean) {
  const latencies: number[] = [];
  let errors = 0;
  const headers = auth ? { authorization: `Bearer ${TOKEN}` } : undefined;
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) {
        const sent = performance.now();
        const response = await fetch(`${base}${paths()}`, { headers });
        await response.arrayBuffer();
        if (response.status !== 200) errors++;
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rate: latencies.length / elapsed,
    errors,
  };
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-bench-recommendations-'));
  fs.chmodSync(home, 0o755);
  say(
    `cartflow recommendations benchmark (${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, load average ${loadAverage()})`,
  );
  const postgres = await startEmbeddedPostgres({
    dir: path.join(home, 'postgres'),
    port: await findFreePort(),
    databases: ['shop', 'warehouse'],
    logFile: path.join(home, 'postgres.log'),
  });
  const temporal = await startScratchTemporal(home);
  const connection = await Connection.connect({ address: temporal.address });
  await ensureSearchAttributes(connection, 'default');
  const client = new Client({ connection, namespace: 'default' });
  const warehouse = createPool(postgres.url('warehouse'), 'bench', 2);
  const httpPort = await findFreePort();
  // A real SMTP sink and a running worker, so that /health, the reference, answers up.
  const smtp = await startSmtpSink({ dir: path.join(home, 'mail'), port: await findFreePort() });
  const env = {
    CARTFLOW_HOME: path.join(home, 'cartflow'),
    CARTFLOW_WAREHOUSE_URL: postgres.url('warehouse'),
    CARTFLOW_SHOP_URL: postgres.url('shop'),
    TEMPORAL_ADDRESS: temporal.address,
    SMTP_URL: smtp.url,
    CARTFLOW_INGEST_TOKEN: TOKEN,
    CARTFLOW_HTTP_PORT: String(httpPort),
    CARTFLOW_ML_BACKEND: process.env.CARTFLOW_ML_BACKEND ?? 'wasm',
  };
  let worker: ChildProcess | undefined;
  let server: ChildProcess | undefined;
  try {
    await migrateDatabase(postgres.url('shop'), 'shop');
    await migrateDatabase(postgres.url('warehouse'), 'warehouse');

    say('');
    say(
      '1. Quality on the Online Retail sample (time split: train up to D − 28 days, test on the 28 days up to D)',
    );
    const imported = spawnSync(
      path.join(projectRoot, 'node_modules/.bin/tsx'),
      [path.join(projectRoot, 'cli/main.ts'), 'import', 'online-retail', SAMPLE, '--json'],
      { cwd: projectRoot, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 600_000 },
    );
    if (imported.status !== 0) throw new Error(`cartflow import failed: ${imported.stderr}`);
    const summary = JSON.parse(imported.stdout) as { source: string; lastDate: string; loaded: number };
    say(`imported ${summary.loaded} lines into source ${summary.source}, last date ${summary.lastDate}`);
    worker = await startChild(['worker', '--queue', 'etl', 'ml', 'carts'], env, 'Workers are running');
    const result = await client.workflow.execute(DailyPipelineWorkflow, {
      workflowId: `bench-recommendations-${Date.now()}`,
      taskQueue: TASK_QUEUES.etl,
      args: [{ date: summary.lastDate, models: ['recommendations'] }],
    });
    const step = result.summary.models?.find((m) => m.model === 'recommendations');
    if (step?.status !== 'succeeded') throw new Error(`the fit did not succeed: ${JSON.stringify(step)}`);
    const { rows } = await warehouse.query<{
      metrics: {
        customers: number;
        products: number;
        evaluation: Record<string, { customers: number } & Record<string, { hr: number; ndcg: number }>>;
      };
      parameters: Record<string, unknown>;
      duration_ms: number;
      backend: string;
    }>(`select metrics, parameters, duration_ms, backend from ops.model_versions where version_id = $1`, [
      step.versionId,
    ]);
    const [version] = rows;
    const evaluation = version.metrics.evaluation[summary.source];
    say(
      `fit: ${version.metrics.customers} customers × ${version.metrics.products} products, ${step.trainingRows} interactions, ` +
        `${(version.duration_ms / 1000).toFixed(1)} s on ${version.backend} (both fits and the evaluation), ` +
        `${String(version.parameters.factors)} factors, ${String(version.parameters.iterations)} iterations`,
    );
    say(`test customers: ${evaluation.customers}`);
    say(`  method          HR@10    NDCG@10   HR ÷ popular  NDCG ÷ popular`);
    for (const method of ['factorisation', 'cooccurrence', 'blend', 'popular']) {
      const m = evaluation[method];
      say(
        `  ${method.padEnd(14)} ${m.hr.toFixed(4).padStart(6)}   ${m.ndcg.toFixed(4).padStart(7)}   ` +
          `${(m.hr / evaluation.popular.hr).toFixed(2).padStart(11)}  ${(m.ndcg / evaluation.popular.ndcg).toFixed(2).padStart(14)}`,
      );
    }

    say('');
    say(`2. Serving: ${CLIENTS} concurrent clients, ${SECONDS} s per endpoint, against cartflow server`);
    server = await startChild(['server'], env, 'The HTTP server is listening');
    await waitForPort(httpPort, 30_000, 'cartflow server');
    const base = `http://127.0.0.1:${httpPort}`;
    const customers = (
      await warehouse.query<{ customer_id: string }>(
        `select distinct customer_id from mart.recommendations where version_id = $1`,
        [step.versionId],
      )
    ).rows.map((r) => r.customer_id);
    const products = (
      await warehouse.query<{ product_id: string }>(
        `select distinct product_id from mart.related_products where version_id = $1`,
        [step.versionId],
      )
    ).rows.map((r) => r.product_id);
    const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)];
    const source = encodeURIComponent(summary.source);
    const endpoints = [
      { name: 'GET /health (reference)', paths: () => '/health', auth: false },
      {
        name: 'GET /v1/customers/:id/recommendations',
        paths: () =>
          `/v1/customers/${Math.random() < 0.1 ? 'unknown-customer' : pick(customers)}/recommendations?limit=10&source=${source}`,
        auth: true,
      },
      {
        name: 'GET /v1/products/:id/related',
        paths: () => `/v1/products/${encodeURIComponent(pick(products))}/related?limit=10&source=${source}`,
        auth: true,
      },
    ];
    say(`load average before: ${loadAverage()}`);
    say(`  endpoint                                 p50 ms   p99 ms   requests/s   errors   p99 ÷ health`);
    let healthP99 = NaN;
    for (const endpoint of endpoints) {
      const figures = await load(base, endpoint.paths, endpoint.auth);
      if (endpoint.paths() === '/health') healthP99 = figures.p99;
      say(
        `  ${endpoint.name.padEnd(40)} ${figures.p50.toFixed(1).padStart(6)}   ${figures.p99.toFixed(1).padStart(6)}   ` +
          `${figures.rate.toFixed(0).padStart(10)}   ${String(figures.errors).padStart(6)}   ${(figures.p99 / healthP99).toFixed(2).padStart(12)}`,
      );
    }
    say(`load average after: ${loadAverage()}`);
  } finally {
    await stopChild(server);
    await stopChild(worker);
    await warehouse.end();
    await smtp.stop();
    await connection.close();
    await temporal.stop();
    await postgres.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
