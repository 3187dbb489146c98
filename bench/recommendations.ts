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
 *   1b. With `--compare-implicit` (npm run bench:recommendations -- --compare-implicit): the same split
 *      exported from the warehouse and fitted with the Python library implicit (installed with pip into
 *      .cartflow/tools/implicit-0.7.2 on first use) by bench/recommendations-implicit.py, at cartflow's
 *      factors, λ and α and on a small grid, evaluated as cartflow evaluates; printed side by side.
 *   2. Serving, against `cartflow server` alone in its process (no worker in it), by load generators in
 *      processes of their own (bench/recommendations-load.ts, BENCH_RECOMMENDATIONS_GENERATORS, default
 *      2, each with its share of the rate and connections), BENCH_RECOMMENDATIONS_SECONDS (default 10)
 *      per endpoint after 1 s not counted: first
 *      open loop, BENCH_RECOMMENDATIONS_RATE (default 1,000) requests/s over up to 100 connections,
 *      then closed loop, 100 clients each waiting for its answer (the capacity). p50, p99 and max
 *      latency and requests/s of GET /v1/customers/:id/recommendations (known customers, one in ten
 *      unknown), GET /v1/products/:id/related and, open loop only, recommendations for ids the server
 *      has never seen (every request a cache miss, read from the warehouse), next to the same
 *      server's GET /health as reference; `uptime` before and after each loop. Under each row: the
 *      server's CPU, event-loop busy share and delay and GC pauses (bench/process-probe.ts preloaded into
 *      it), the generators' CPU, event-loop delay and how late they sent, and the machine's busy share;
 *      at the end, the processes that used the most CPU during each run, ours and others'.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPool } from '../lib/db';
import { TASK_QUEUES } from '../contracts/names';
import { DailyPipelineWorkflow } from '../workflows';
import type { LoadPlan, LoadResult } from './recommendations-load';
import { serverProbe } from './process-probe';
import { machineWatch } from './machine-watch';
import { startBenchStack, startProbedServer } from './bench-stack';
import { startWorker, stopWorker } from './worker-process';
import { dateKey } from '../activities/models/fit';
import { EVENTS_SOURCE } from '../activities/models/recommendations';
import { INTERACTIONS, PRODUCTS, TEST_PURCHASES } from '../activities/models/recommendations.sql';
import { loadConfig } from '../lib/config';
import { pipInstall, PipInstallError } from '../lib/pip-install';

const projectRoot = path.resolve(__dirname, '..');
const SAMPLE = path.resolve(projectRoot, '../shared/data/online-retail-sample.csv.gz');
const CLIENTS = 100;
const SECONDS = Number(process.env.BENCH_RECOMMENDATIONS_SECONDS ?? 10);
/** Sent before each run's counted seconds and not counted: connections open, code warms up. */
const WARMUP_SECONDS = 1;
/** The target rate: p99 under 20 ms at this many requests per second. */
const RATE = Number(process.env.BENCH_RECOMMENDATIONS_RATE ?? 1000);
const TOKEN = 'bench-recommendations-token';
const COMPARE_IMPLICIT = process.argv.includes('--compare-implicit');
const IMPLICIT_VERSION = '0.7.2';
const IMPLICIT_DIR = path.join(projectRoot, `.cartflow/tools/implicit-${IMPLICIT_VERSION}`);
/** The library's grid: every combination, each fitted with three seeds. */
const IMPLICIT_GRID = { factors: [32, 64], regularization: [0.01, 0.1, 1], alpha: [0.3, 1, 3, 10, 40] };

const say = (line: string) => process.stdout.write(`${line}\n`);
const uptime = () => spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** The load generators' processes: BENCH_RECOMMENDATIONS_GENERATORS (default 2), each with its share. */
const GENERATORS = Number(process.env.BENCH_RECOMMENDATIONS_GENERATORS ?? 2);

/** One endpoint's run, all generators' requests together. */
interface LoadFigures {
  p50: number;
  p99: number;
  max: number;
  rate: number;
  errors: number;
  /** Open loop: the 99th percentile of how late the generators sent a request after it was due, ms. */
  sendLagP99: number;
  /** The generators' CPU, s per s (all of them), and their worst event-loop delay p99, ms. */
  generatorCpu: number;
  generatorDelayP99: number;
  generatorDelayMax: number;
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * Runs bench/recommendations-load.ts in GENERATORS processes of their own, each with its share of the
 * rate and the connections and every `GENERATORS`-th path, and merges what they measured.
 */
async function load(plan: LoadPlan, folder: string): Promise<LoadFigures> {
  const runs = await Promise.all(
    Array.from({ length: GENERATORS }, (_, g) => {
      const share: LoadPlan = {
        ...plan,
        paths: plan.paths.filter((_p, i) => i % GENERATORS === g),
        signalAtStart: g === 0 ? plan.signalAtStart : undefined,
        rate: (plan.rate ?? 0) / GENERATORS,
        connections: Math.ceil(plan.connections / GENERATORS),
      };
      // The plan goes in a file: its sampled paths are more than one argument may hold.
      const planFile = path.join(folder, `load-plan-${g}.json`);
      fs.writeFileSync(planFile, JSON.stringify(share));
      return new Promise<LoadResult>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', path.join(projectRoot, 'bench/recommendations-load.ts'), planFile],
          { cwd: projectRoot, stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let output = '';
        child.stdout!.on('data', (data: Buffer) => (output += data.toString()));
        child.once('exit', (code) =>
          code === 0
            ? resolve(JSON.parse(output) as LoadResult)
            : reject(new Error(`the load generator exited (${code})`)),
        );
      });
    }),
  );
  const sorted = Float64Array.from(runs.flatMap((r) => r.latencies)).sort();
  const lags = Float64Array.from(runs.flatMap((r) => r.sendLags)).sort();
  const seconds = Math.max(...runs.map((r) => r.seconds));
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    rate: sorted.length / seconds,
    errors: runs.reduce((n, r) => n + r.errors, 0),
    sendLagP99: percentile(lags, 99),
    generatorCpu: runs.reduce((n, r) => n + r.generator.cpuSeconds, 0) / seconds,
    generatorDelayP99: Math.max(...runs.map((r) => r.generator.eventLoopDelay.p99)),
    generatorDelayMax: Math.max(...runs.map((r) => r.generator.eventLoopDelay.max)),
  };
}

/**
 * `--compare-implicit`: the fit's own split exported from the warehouse with the activity's queries
 * (the products cartflow ranks, the interactions up to the split, the test purchases), and the
 * established library `implicit` fitted on it by bench/recommendations-implicit.py, cartflow's
 * evaluation repeated there; printed next to cartflow's figures from the version.
 */
async function compareImplicit(
  warehouse: ReturnType<typeof createPool>,
  env: NodeJS.ProcessEnv,
  summary: { source: string; lastDate: string },
  parameters: Record<string, unknown>,
  cartflow: Record<string, { hr: number; ndcg: number }> & { customers: number },
): Promise<void> {
  say('');
  say(
    `1b. The same split with the Python library implicit ${IMPLICIT_VERSION} (AlternatingLeastSquares, CG, 3 steps)`,
  );
  try {
    pipInstall({
      requirement: `implicit==${IMPLICIT_VERSION}`,
      target: IMPLICIT_DIR,
      installed: (target) => fs.existsSync(path.join(target, 'implicit')),
      timeoutMs: 600_000,
      log: say,
    });
  } catch (error) {
    if (!(error instanceof PipInstallError)) throw error;
    throw new Error(
      `${error.message}. The comparison needs python3 with pip and access to the Python package index.`,
    );
  }
  const config = loadConfig(env);
  const { weights } = config.models.recommendations;
  const split = String(parameters.split);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-implicit-'));
  try {
    const events = [config.timezone, EVENTS_SOURCE];
    const csvField = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    const write = (file: string, header: string[], rows: string[][]) =>
      fs.writeFileSync(
        path.join(folder, file),
        [header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n',
      );
    const products = await warehouse.query<{ source: string; product_id: string }>(PRODUCTS, [
      dateKey(summary.lastDate),
      summary.lastDate,
      ...events,
      dateKey(summary.lastDate),
    ]);
    write(
      'products.csv',
      ['product_id'],
      products.rows.filter((r) => r.source === summary.source).map((r) => [r.product_id]),
    );
    const train = await warehouse.query<{
      source: string;
      customer_id: string;
      product_id: string;
      weight: number;
      bought: boolean;
    }>(INTERACTIONS, [
      dateKey(split),
      split,
      ...events,
      weights.purchase,
      weights.cart,
      weights.view,
      dateKey(split),
    ]);
    write(
      'train.csv',
      ['customer_id', 'product_id', 'weight', 'bought'],
      train.rows
        .filter((r) => r.source === summary.source)
        .map((r) => [r.customer_id, r.product_id, String(r.weight), r.bought ? '1' : '0']),
    );
    const test = await warehouse.query<{ source: string; customer_id: string; product_id: string }>(
      TEST_PURCHASES,
      [dateKey(split), dateKey(summary.lastDate)],
    );
    write(
      'test.csv',
      ['customer_id', 'product_id'],
      test.rows.filter((r) => r.source === summary.source).map((r) => [r.customer_id, r.product_id]),
    );
    const run = spawnSync(
      'python3',
      [
        path.join(projectRoot, 'bench/recommendations-implicit.py'),
        folder,
        JSON.stringify({ grid: IMPLICIT_GRID, iterations: Number(parameters.iterations), seeds: [1, 2, 3] }),
      ],
      { encoding: 'utf8', timeout: 1_800_000, env: { ...process.env, PYTHONPATH: IMPLICIT_DIR } },
    );
    if (run.status !== 0) throw new Error(`bench/recommendations-implicit.py failed: ${run.stderr}`);
    const out = JSON.parse(run.stdout) as {
      implicit: string;
      customers: number;
      products: number;
      interactions: number;
      results: {
        factors: number;
        regularization: number;
        alpha: number;
        hr: number;
        ndcg: number;
        hrRange: number[];
        customers: number;
        seconds: number;
      }[];
    };
    say(
      `exported split ${split}: ${out.customers} customers with interactions × ${out.products} products, ${out.interactions} interactions; ` +
        `implicit ${out.implicit}, ${String(parameters.iterations)} iterations, 3 seeds each`,
    );
    const same = out.results.find(
      (r) =>
        r.factors === Number(parameters.factors) &&
        r.regularization === Number(parameters.regularization) &&
        r.alpha === Number(parameters.alpha),
    );
    const best = out.results.reduce((a, b) => (b.ndcg > a.ndcg ? b : a));
    const line = (name: string, hr: number, ndcg: number, customers: number) =>
      say(
        `  ${name.padEnd(58)} ${hr.toFixed(4)}   ${ndcg.toFixed(4)}   ${String(customers).padStart(9)}   ` +
          `${(hr / cartflow.factorisation.hr).toFixed(2).padStart(6)}   ${(ndcg / cartflow.factorisation.ndcg).toFixed(2).padStart(6)}`,
      );
    say(`  ${'model'.padEnd(58)} HR@10    NDCG@10  customers   HR ÷ cf  NDCG ÷ cf`);
    const params = (f: unknown, l: unknown, a: unknown) =>
      `factors ${String(f)}, λ ${String(l)}, α ${String(a)}`;
    line(
      `cartflow factorisation (${params(parameters.factors, parameters.regularization, parameters.alpha)})`,
      cartflow.factorisation.hr,
      cartflow.factorisation.ndcg,
      cartflow.customers,
    );
    if (same)
      line(
        `implicit, the same (${params(same.factors, same.regularization, same.alpha)})`,
        same.hr,
        same.ndcg,
        same.customers,
      );
    line(
      `implicit, grid's best NDCG on the test days (${params(best.factors, best.regularization, best.alpha)})`,
      best.hr,
      best.ndcg,
      best.customers,
    );
    line('popularity (cartflow)', cartflow.popular.hr, cartflow.popular.ndcg, cartflow.customers);
    say('  the whole grid (implicit, mean of 3 seeds; HR range over seeds):');
    for (const r of out.results)
      say(
        `    ${params(r.factors, r.regularization, r.alpha).padEnd(30)} HR@10 ${r.hr.toFixed(4)} [${r.hrRange.map((h) => h.toFixed(3)).join(', ')}]` +
          `  NDCG@10 ${r.ndcg.toFixed(4)}  ${r.seconds.toFixed(2)} s per fit`,
      );
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  say(
    `cartflow recommendations benchmark (${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, load average ${loadAverage()})`,
  );
  // A real SMTP sink and a running worker, so that /health, the reference, answers up.
  const stack = await startBenchStack('recommendations', TOKEN);
  const { client, home, httpPort } = stack;
  const env: Record<string, string> = {
    ...stack.env,
    CARTFLOW_ML_BACKEND: process.env.CARTFLOW_ML_BACKEND ?? 'wasm',
  };
  const warehouse = createPool(env.CARTFLOW_WAREHOUSE_URL, 'bench', 2);
  let worker: ChildProcess | undefined;
  let server: ChildProcess | undefined;
  try {
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
    worker = await startWorker(env, ['etl', 'ml', 'carts']);
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

    if (COMPARE_IMPLICIT)
      await compareImplicit(
        warehouse,
        { ...process.env, ...env },
        summary,
        version.parameters,
        evaluation as unknown as Record<string, { hr: number; ndcg: number }> & { customers: number },
      );

    say('');
    say(`2. Serving: ${SECONDS} s per endpoint and loop, against cartflow server`);
    // The server alone in its process (no worker), with the probe of its event loop, GC and CPU.
    const probed = await startProbedServer(stack, env);
    server = probed.server;
    const { probeFile } = probed;
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
    // Sampled paths, used in turn by the load generator: one customer in ten is unknown (popular products).
    const random = (n: number) => Math.floor(Math.random() * n);
    const sampled = (make: (i: number) => string) => Array.from({ length: 20_000 }, (_, i) => make(i));
    const source = encodeURIComponent(summary.source);
    const endpoints = [
      { name: 'GET /health (reference)', paths: ['/health'], token: undefined },
      {
        name: 'GET /v1/customers/:id/recommendations',
        paths: sampled(
          () =>
            `/v1/customers/${Math.random() < 0.1 ? 'unknown-customer' : encodeURIComponent(customers[random(customers.length)])}` +
            `/recommendations?limit=10&source=${source}`,
        ),
        token: TOKEN,
      },
      {
        name: 'GET /v1/products/:id/related',
        paths: sampled(
          () =>
            `/v1/products/${encodeURIComponent(products[random(products.length)])}/related?limit=10&source=${source}`,
        ),
        token: TOKEN,
      },
      {
        // Every id new to the server: each request misses the in-process cache and reads the warehouse.
        name: 'recommendations, every id a cache miss',
        paths: sampled(
          (i) => `/v1/customers/bench-new-${Date.now()}-${i}/recommendations?limit=10&source=${source}`,
        ),
        token: TOKEN,
      },
    ];
    say(
      `${customers.length} customers and ${products.length} products with lists; ` +
        `the load comes from ${GENERATORS} generator processes of their own`,
    );
    // What the server costs with no request at all: its polls (version, outbox relay), timers, clients.
    await serverProbe(server, probeFile);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const idle = await serverProbe(server, probeFile);
    say(
      `server idle for 5 s: ${idle.cpuShare.toFixed(3)} cores, loop delay p99 ${idle.eventLoopDelay.p99.toFixed(1)} ms, GC ${idle.gc.count}×`,
    );
    say(`uptime before: ${uptime()}`);
    const notes: string[] = [];
    for (const mode of ['rate', 'closed'] as const) {
      say('');
      say(
        mode === 'rate'
          ? `  open loop: ${RATE} requests/s due evenly over up to ${CLIENTS} connections, latency from when each was due`
          : `  closed loop: ${CLIENTS} clients, each sending its next request when the last is answered (capacity)`,
      );
      say(
        `  endpoint                                 p50 ms   p99 ms   max ms   requests/s   errors   p99 ÷ health`,
      );
      let healthP99 = NaN;
      for (const endpoint of endpoints) {
        if (mode === 'closed' && endpoint.name.includes('cache miss')) continue; // its ids would repeat
        const watch = machineWatch();
        const figures = await load(
          {
            base,
            token: endpoint.token,
            paths: endpoint.paths,
            mode,
            rate: RATE,
            connections: CLIENTS,
            seconds: SECONDS,
            warmupSeconds: WARMUP_SECONDS,
            signalAtStart: server.pid,
          },
          home,
        );
        const machine = watch();
        const probe = await serverProbe(server, probeFile);
        if (endpoint.token === undefined) healthP99 = figures.p99;
        say(
          `  ${endpoint.name.padEnd(40)} ${figures.p50.toFixed(1).padStart(6)}   ${figures.p99.toFixed(1).padStart(6)}   ` +
            `${figures.max.toFixed(1).padStart(6)}   ${figures.rate.toFixed(0).padStart(10)}   ${String(figures.errors).padStart(6)}   ` +
            `${(figures.p99 / healthP99).toFixed(2).padStart(12)}`,
        );
        say(
          `      server: ${probe.cpuShare.toFixed(2)} cores, loop busy ${(100 * probe.eventLoopUtilisation).toFixed(0)}%, ` +
            `loop delay p99 ${probe.eventLoopDelay.p99.toFixed(1)} / max ${probe.eventLoopDelay.max.toFixed(1)} ms, ` +
            `GC ${probe.gc.count}× ${probe.gc.totalMs.toFixed(0)} ms (longest ${probe.gc.maxMs.toFixed(1)} ms), ` +
            `request in the server p99 ${probe.requests.p99.toFixed(2)} / max ${probe.requests.max.toFixed(1)} ms; ` +
            `generators: ${figures.generatorCpu.toFixed(2)} cores, loop delay p99 ${figures.generatorDelayP99.toFixed(1)} / max ${figures.generatorDelayMax.toFixed(1)} ms` +
            (mode === 'rate' ? `, send lag p99 ${figures.sendLagP99.toFixed(1)} ms` : '') +
            `; machine ${(100 * machine.busy).toFixed(0)}% busy`,
        );
        notes.push(
          `${mode === 'rate' ? 'open' : 'closed'} ${endpoint.name}: ` +
            machine.top.map((p) => `${p.cores.toFixed(2)} ${p.command.slice(0, 70)}`).join(' | '),
        );
      }
      say(`  uptime: ${uptime()}`);
    }
    say('');
    say('CPU by process during each run (cores; ours and everyone else):');
    for (const note of notes) say(`  ${note}`);
  } finally {
    await stopWorker(server);
    await stopWorker(worker);
    await warehouse.end();
    await stack.stop();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
