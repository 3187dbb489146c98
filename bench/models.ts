/**
 * `npm run bench:models`: the customer models' fit times and peak memory on a simulated shop, the
 * backend each ran on, and references measured in the same run. It starts its own Postgres and
 * Temporal under a temporary directory and runs production workers (`cartflow worker`) as child
 * processes, so their memory can be read; it prints figures and asserts no timings.
 *
 *   1. The whole daily pipeline without models (the reference) and with them, on two warehouses
 *      loaded from the same shop: the models' share of a daily run (target: the run under 2 min).
 *   2. Each model alone, in a fresh `cartflow worker --queue ml` (its peak memory is the fit's), on
 *      WASM and, when `npm run setup:tensorflow` has installed it, on native TensorFlow.
 *   3. k-means' reference: one assignment pass over the same features in plain JavaScript against
 *      one pass on TensorFlow.js.
 *
 * The shop is bench:el's generated one (`bench/generated-shop.ts`): exact sizes, a year of orders.
 * Options (environment): BENCH_MODELS_CUSTOMERS (default 100,000), BENCH_MODELS_LINES (1,000,000),
 * BENCH_MODELS (the models to fit, comma-separated; default all).
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { createPool } from '../lib/db';
import { startEmbeddedPostgres } from '../lib/embedded/postgres';
import { findFreePort } from '../lib/embedded/ports';
import { startScratchTemporal } from '../lib/embedded/temporal';
import { migrateDatabase } from '../lib/migrate';
import { MODELS, type ModelName, type ModelStepResult } from '../contracts/model-summary';
import { TASK_QUEUES } from '../contracts/names';
import { ensureSearchAttributes } from '../lib/temporal';
import { useTensorFlow, type BackendChoice } from '../ml/backend';
import { assignPlainJs, assignTensorFlow, kMeans, standardiseRfm } from '../ml/kmeans';
import { generateShop } from './generated-shop';
import { peakMemoryMb, startWorker, stopWorker } from './worker-process';

const megabytes = (mb: number | undefined) => (mb === undefined ? '?' : `${mb.toFixed(0)} MB`);
import { DailyPipelineWorkflow, ModelsWorkflow } from '../workflows';
import { RFM_FEATURES } from '../activities/models/features.sql';

const CUSTOMERS = Number(process.env.BENCH_MODELS_CUSTOMERS ?? 100_000);
const LINES = Number(process.env.BENCH_MODELS_LINES ?? 1_000_000);
const BENCH_MODELS = (process.env.BENCH_MODELS?.split(',').map((m) => m.trim()) ?? [
  ...MODELS,
]) as ModelName[];
const DATE = '2026-11-20';

const say = (line = '') => process.stdout.write(line + '\n');
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

async function nativeAvailable(): Promise<boolean> {
  try {
    await useTensorFlow('native');
    return true;
  } catch {
    return false;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-bench-models-'));
  fs.chmodSync(home, 0o755);
  say(
    `cartflow models benchmark (${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, load average ${loadAverage()})`,
  );
  const postgres = await startEmbeddedPostgres({
    dir: path.join(home, 'postgres'),
    port: await findFreePort(),
    databases: ['shop', 'reference', 'warehouse'],
    logFile: path.join(home, 'postgres.log'),
  });
  const temporal = await startScratchTemporal(home);
  const connection = await Connection.connect({ address: temporal.address });
  await ensureSearchAttributes(connection, 'default');
  const client = new Client({ connection, namespace: 'default' });
  const pools: pg.Pool[] = [];
  let worker: ChildProcess | undefined;
  const cleanUp = async () => {
    await stopWorker(worker);
    await Promise.all(pools.map((p) => p.end()));
    await connection.close();
    await temporal.stop();
    await postgres.stop();
    fs.rmSync(home, { recursive: true, force: true });
  };
  const workerEnv = (warehouse: string, backend: BackendChoice = 'wasm') => ({
    CARTFLOW_HOME: path.join(home, 'cartflow'),
    CARTFLOW_WAREHOUSE_URL: postgres.url(warehouse),
    CARTFLOW_SHOP_URL: postgres.url('shop'),
    TEMPORAL_ADDRESS: temporal.address,
    SMTP_URL: 'smtp://127.0.0.1:1',
    CARTFLOW_ML_BACKEND: backend,
  });
  const daily = (models: boolean) =>
    timed(() =>
      client.workflow.execute(DailyPipelineWorkflow, {
        workflowId: `bench-daily-${models ? 'models' : 'reference'}-${Date.now()}`,
        taskQueue: TASK_QUEUES.etl,
        args: [{ date: DATE, models: models ? BENCH_MODELS : false }],
      }),
    );

  try {
    await migrateDatabase(postgres.url('shop'), 'shop');
    for (const database of ['reference', 'warehouse'])
      await migrateDatabase(postgres.url(database), 'warehouse');
    const shop = createPool(postgres.url('shop'), 'bench', 4);
    const warehouse = createPool(postgres.url('warehouse'), 'bench', 4);
    pools.push(shop, warehouse);
    const [, generateMs] = await timed(() => generateShop(shop, CUSTOMERS, LINES));
    const counts = (
      await shop.query<{ c: number; o: number; l: number }>(
        `select (select count(*) from customers)::int as c, (select count(*) from orders)::int as o,
                (select count(*) from order_lines)::int as l`,
      )
    ).rows[0];
    say(
      `generated shop: ${counts.c.toLocaleString('en-US')} customers, ${counts.o.toLocaleString('en-US')} orders, ` +
        `${counts.l.toLocaleString('en-US')} order lines over a year, in ${seconds(generateMs)}`,
    );

    say('');
    say('1. The whole daily run, without the models (reference) and with them');
    worker = await startWorker(workerEnv('reference'), ['etl']);
    const [, referenceMs] = await daily(false);
    await stopWorker(worker);
    worker = await startWorker(workerEnv('warehouse'), ['etl', 'ml']);
    const [withModels, withModelsMs] = await daily(true);
    const workerPeak = megabytes(peakMemoryMb(worker.pid));
    await stopWorker(worker);
    worker = undefined;
    say(`   without models: ${seconds(referenceMs)}`);
    say(
      `   with models:    ${seconds(withModelsMs)}   (target < 2 min), ratio ${(withModelsMs / referenceMs).toFixed(2)}; worker peak ${workerPeak}`,
    );
    for (const step of withModels.summary.models ?? [])
      say(
        `      ${step.model.padEnd(9)} ${step.status.padEnd(9)} ${seconds(step.durationMs)} on ${step.backend ?? '-'}  ${step.headline ?? step.error ?? ''}`,
      );

    say('');
    say(`2. Each model alone, in a fresh ml worker (load average ${loadAverage()})`);
    const backends: BackendChoice[] = ['wasm', ...((await nativeAvailable()) ? (['native'] as const) : [])];
    if (backends.length === 1)
      say('   (native TensorFlow is not installed: `npm run setup:tensorflow` adds it to this table)');
    say(
      `   ${'model'.padEnd(10)}${backends.map((b) => `${b.padEnd(10)} time      peak memory   `).join('')}`,
    );
    for (const model of BENCH_MODELS) {
      const cells: string[] = [];
      for (const backend of backends) {
        worker = await startWorker(workerEnv('warehouse', backend), ['ml']);
        const [steps, ms] = await timed(() =>
          client.workflow.execute(ModelsWorkflow, {
            workflowId: `bench-${model}-${backend}-${Date.now()}`,
            taskQueue: TASK_QUEUES.ml,
            args: [{ date: DATE, models: [model] }],
          }),
        );
        const step: ModelStepResult = steps[0];
        cells.push(
          `${(step.backend ?? step.status).padEnd(10)} ${seconds(step.status === 'succeeded' ? step.durationMs : ms).padEnd(9)} ${megabytes(peakMemoryMb(worker.pid)).padEnd(13)} `,
        );
        await stopWorker(worker);
        worker = undefined;
      }
      say(`   ${model.padEnd(10)}${cells.join(' ')}   (target < 30 s)`);
    }

    say('');
    say('3. k-means: one assignment pass over the standardised RFM features');
    const { rows } = await warehouse.query<{ recency_days: number; frequency: number; monetary: number }>(
      RFM_FEATURES,
      [Number(DATE.replace(/-/g, ''))],
    );
    const standardised = standardiseRfm(
      Float64Array.from(rows, (r) => r.recency_days),
      Float64Array.from(rows, (r) => r.frequency),
      Float64Array.from(rows, (r) => r.monetary),
    );
    const k = 4;
    const fit = kMeans(standardised.features, 3, k, { seed: 1, restarts: 1 });
    const plainMs = median(
      Array.from({ length: 5 }, () =>
        timedSync(() => assignPlainJs(standardised.features, 3, fit.centroids, k)),
      ),
    );
    for (const backend of backends) {
      const info = await useTensorFlow(backend);
      assignTensorFlow(standardised.features, 3, fit.centroids, k); // warm-up: kernels compiled, memory placed
      const tfMs = median(
        Array.from({ length: 5 }, () =>
          timedSync(() => assignTensorFlow(standardised.features, 3, fit.centroids, k)),
        ),
      );
      say(
        `   ${rows.length.toLocaleString('en-US')} customers, k ${k}: plain JavaScript ${plainMs.toFixed(1)} ms, ${info.name} ${tfMs.toFixed(1)} ms, ratio plain/${info.name} ${(plainMs / tfMs).toFixed(2)}`,
      );
    }
    say('');
    say(`load average at the end: ${loadAverage()}`);
  } finally {
    await cleanUp();
  }
}

function timedSync(work: () => unknown): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:models failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
