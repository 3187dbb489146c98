/**
 * `npm run bench:live [-- --rates 50,200 --seconds 30 --batch 1 --screenshots docs/images]`: the live
 * page under load. It starts its own stack under a temporary folder — embedded Postgres, a Temporal dev
 * server, an SMTP sink, and cartflow's production commands as child processes (`cartflow simulate`
 * fills a demo shop, `cartflow worker`, `cartflow server`) — opens the dashboard's live page in Debian's
 * Chromium (test/helpers/browser.ts), signed in, and runs a load generator in a process of its own
 * (bench/live-load.ts) that posts purchase events through `POST /v1/events` at each offered rate for
 * `--seconds`, with a marked purchase every `--mark-every` (default 250 ms).
 *
 * For each mark it measures the delay from its 202 to (a) the snapshot that holds it being computed
 * (the snapshot's own `at`, the database's clock), (b) that snapshot's arrival at a plain Server-Sent
 * Events client in Node (the reference: what the stream costs without a browser), and (c) the page's
 * product chart showing it (read in the page at the frame after it drew). It prints p50/p99/max of
 * each, events/s offered and accepted, the POSTs' latency, the ratio page ÷ reference, and `uptime`
 * before and after each rate. It asserts nothing.
 *
 * `--screenshots DIR` first runs `cartflow run daily` for the simulated shop's last day (the customer
 * marts), plays shoppers for 20 s with `cartflow simulate-live`, and saves DIR/dashboard-live.png and
 * DIR/dashboard-customers.png before the measured runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import { createPool } from '../lib/db';
import { startEmbeddedPostgres } from '../lib/embedded/postgres';
import { findFreePort, waitForPort } from '../lib/embedded/ports';
import { startSmtpSink } from '../lib/embedded/smtp';
import { startScratchTemporal } from '../lib/embedded/temporal';
import { parseDuration } from '../lib/config';
import { DEFAULT_END_DATE } from '../simulator';
import { launchBrowser } from '../test/helpers/browser';
import type { LiveLoadResult, LivePlan } from './live-load';
import { startCartflow, startWorker, stopWorker } from './worker-process';

const projectRoot = path.resolve(__dirname, '..');
const INGEST_TOKEN = 'bench-live-ingest-token';
const DASHBOARD_TOKEN = 'bench-live-dashboard-token';
/** One unit of the marker is worth more than any product sells in a run, so it is always on the chart. */
const MARKER = { productId: 'bench-marker', price: 10_000 };

interface Options {
  rates: number[];
  seconds: number;
  batch: number;
  markEveryMs: number;
  customers: number;
  days: number;
  screenshots: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    rates: [50, 200],
    seconds: 30,
    batch: 1,
    markEveryMs: 250,
    customers: 1000,
    days: 180,
    screenshots: undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--rates') options.rates = value.split(',').map(Number);
    else if (flag === '--seconds') options.seconds = Number(value);
    else if (flag === '--batch') options.batch = Number(value);
    else if (flag === '--mark-every') options.markEveryMs = parseDuration(value) ?? NaN;
    else if (flag === '--customers') options.customers = Number(value);
    else if (flag === '--days') options.days = Number(value);
    else if (flag === '--screenshots') options.screenshots = path.resolve(value);
    else
      throw new Error(
        `Unknown option ${flag}; use --rates 50,200 --seconds 30 --batch 1 --mark-every 250ms ` +
          '--customers 1000 --days 180 --screenshots DIR',
      );
  }
  if (!options.rates.every((r) => r > 0)) throw new Error('--rates must be events/s, e.g. 50,200');
  if (!(options.seconds > 0) || !(options.markEveryMs >= 10) || !Number.isInteger(options.batch))
    throw new Error('--seconds, --mark-every and --batch must be positive');
  return options;
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const uptime = () => spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();
const now = () => performance.timeOrigin + performance.now();

/** A `cartflow …` command to its end; fails with its output when it fails. */
function cartflow(env: Record<string, string>, args: string[]): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'cli/main.ts'), ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...env, CARTFLOW_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr.on('data', (data: Buffer) => (output += data.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`cartflow ${args.join(' ')} exited (${code}):\n${output}`)),
    ),
  );
}

/** Runs bench/live-load.ts in a process of its own and returns what it measured. */
function load(plan: LivePlan, folder: string): Promise<LiveLoadResult> {
  const planFile = path.join(folder, 'live-plan.json');
  fs.writeFileSync(planFile, JSON.stringify(plan));
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(projectRoot, 'bench/live-load.ts'), planFile],
      {
        cwd: projectRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(output) as LiveLoadResult)
        : reject(new Error(`the load generator exited (${code})`)),
    );
  });
}

interface Seen {
  at: number;
  units: number;
  /** The snapshot's own time (the database's clock), ms since the epoch; the stream's records only. */
  computedAt?: number;
}

/**
 * The reference: a plain Server-Sent Events client of /api/live/stream, recording when each snapshot
 * arrives and how many marker units it holds.
 */
function streamReference(base: string): { seen: Seen[]; close: () => void } {
  const seen: Seen[] = [];
  const request = http.get(`${base}/api/live/stream`, {
    headers: { authorization: `Bearer ${DASHBOARD_TOKEN}`, accept: 'text/event-stream' },
  });
  request.on('response', (response) => {
    let buffer = '';
    response.on('data', (chunk: Buffer) => {
      const at = now();
      buffer += chunk.toString();
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!message.startsWith('event: live\n')) continue;
        const snapshot = JSON.parse(message.slice(message.indexOf('data: ') + 6)) as {
          at: string;
          products: { productId: string; units: number }[];
        };
        const units = snapshot.products.find((p) => p.productId === MARKER.productId)?.units ?? 0;
        seen.push({ at, units, computedAt: Date.parse(snapshot.at) });
      }
    });
  });
  request.on('error', () => undefined);
  return { seen, close: () => request.destroy() };
}

/**
 * Installed in the page before its script runs: the page assigns window.cartflowLive in the animation
 * frame after each draw; at that moment this reads the marker's bar off the product chart. A string,
 * not a function, so that the bundler's helpers do not travel into the page.
 */
const RECORD_DRAWS = `(() => {
  const seen = [];
  let value;
  let last = -1;
  window.benchSeen = seen;
  Object.defineProperty(window, 'cartflowLive', {
    configurable: true,
    get: () => value,
    set(next) {
      value = next;
      const canvas = document.querySelector('canvas[data-chart="products"]');
      const chart = canvas && window.Chart.getChart(canvas);
      const i = chart ? chart.data.labels.indexOf(${JSON.stringify(MARKER.productId)}) : -1;
      const units = i >= 0 ? Math.round(Number(chart.data.datasets[0].data[i]) / ${MARKER.price}) : 0;
      if (units !== last) seen.push({ at: performance.timeOrigin + performance.now(), units });
      last = units;
    },
  });
})();`;

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** The delay from each mark's 202 (or its sending) to the first record that holds it. */
function delays(
  marks: LiveLoadResult['marks'],
  seen: Seen[],
  time: (s: Seen) => number | undefined,
  from: 'acceptedAt' | 'sentAt' = 'acceptedAt',
): number[] {
  const out: number[] = [];
  for (const mark of marks) {
    const first = seen.find((s) => s.units >= mark.n);
    const t = first && time(first);
    if (t !== undefined) out.push(t - mark[from]);
  }
  return out.sort((a, b) => a - b);
}

async function screenshots(page: Page, folder: string, env: Record<string, string>, date: string) {
  say(
    `screenshots: cartflow run daily --date ${date}, then 45 s of cartflow simulate-live --rate 30 ` +
      `(sessions idle after ${env.CARTFLOW_SESSION_IDLE})`,
  );
  const daily = await cartflow(env, ['run', 'daily', '--date', date]);
  say(`  cartflow run daily: ${daily.trim().split('\n')[0]}`);
  await cartflow(env, ['simulate-live', '--rate', '30', '--duration', '45s']);
  // The shoppers who left are abandoned (and e-mailed) once their session is idle; the page reloaded shows it.
  await page.waitForTimeout(parseDuration(env.CARTFLOW_SESSION_IDLE)! + 5000);
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.reload();
  await page.waitForSelector('canvas[data-chart="revenue"]');
  await page.waitForTimeout(1000);
  fs.mkdirSync(folder, { recursive: true });
  await page.screenshot({ path: path.join(folder, 'dashboard-live.png'), fullPage: true });
  await page.click('nav button[data-tab="customers"]');
  await page.fill('#date', date);
  await page.locator('#date').blur();
  await page.waitForSelector('[data-chart="segments"] [data-label]', { timeout: 30_000 });
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(folder, 'dashboard-customers.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.click('nav button[data-tab="live"]');
  await page.waitForSelector('canvas[data-chart="revenue"]');
  for (const name of ['dashboard-live.png', 'dashboard-customers.png'])
    say(
      `  saved ${path.join(folder, name)} (${Math.round(fs.statSync(path.join(folder, name)).size / 1024)} KB)`,
    );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-bench-live-'));
  fs.chmodSync(home, 0o755);
  say(
    `cartflow live benchmark (${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM); ` +
      `rates ${options.rates.join(', ')} events/s, ${options.seconds} s each, ${options.batch} event(s) per request, ` +
      `a mark every ${options.markEveryMs} ms`,
  );
  say(`uptime at start: ${uptime()}`);
  say('delays below are from the 202 unless said; a negative one: the snapshot was out before the 202');
  const postgres = await startEmbeddedPostgres({
    dir: path.join(home, 'postgres'),
    port: await findFreePort(),
    databases: ['shop', 'warehouse'],
    logFile: path.join(home, 'postgres.log'),
  });
  const temporal = await startScratchTemporal(home);
  const smtp = await startSmtpSink({ dir: path.join(home, 'mail'), port: await findFreePort() });
  const httpPort = await findFreePort();
  const env = {
    CARTFLOW_HOME: path.join(home, 'cartflow'),
    CARTFLOW_WAREHOUSE_URL: postgres.url('warehouse'),
    CARTFLOW_SHOP_URL: postgres.url('shop'),
    TEMPORAL_ADDRESS: temporal.address,
    SMTP_URL: smtp.url,
    CARTFLOW_INGEST_TOKEN: INGEST_TOKEN,
    CARTFLOW_DASHBOARD_TOKEN: DASHBOARD_TOKEN,
    CARTFLOW_HTTP_PORT: String(httpPort),
    CARTFLOW_ML_BACKEND: process.env.CARTFLOW_ML_BACKEND ?? 'wasm',
    // Short sessions, so that the screenshots' shoppers buy and abandon carts within a minute.
    CARTFLOW_SESSION_IDLE: '20s',
  };
  const shop = createPool(postgres.url('shop'), 'bench-live', 2);
  let worker: ChildProcess | undefined;
  let server: ChildProcess | undefined;
  const browser = await launchBrowser();
  let reference: ReturnType<typeof streamReference> | undefined;
  try {
    await cartflow(env, ['migrate']);
    const simulated = await cartflow(env, [
      'simulate',
      '--customers',
      String(options.customers),
      '--days',
      String(options.days),
    ]);
    say(simulated.trim().split('\n')[0]);
    worker = await startWorker(env, ['etl', 'ml', 'carts']);
    server = await startCartflow(env, ['server'], 'The HTTP server is listening');
    await waitForPort(httpPort, 30_000, 'cartflow server');
    const base = `http://127.0.0.1:${httpPort}`;

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    await page.addInitScript(RECORD_DRAWS);
    const signIn = await page.request.post(`${base}/api/sign-in`, { data: { token: DASHBOARD_TOKEN } });
    if (!signIn.ok()) throw new Error(`POST /api/sign-in answered ${signIn.status()}`);
    await page.goto(`${base}/`);
    await page.waitForSelector('canvas[data-chart="revenue"]');

    if (options.screenshots) await screenshots(page, options.screenshots, env, DEFAULT_END_DATE);

    const customers = (
      await shop.query<{ id: string }>('select customer_id::text as id from customers limit 1000')
    ).rows;
    const products = (
      await shop.query<{ id: string; price: string }>(
        'select product_id::text as id, price::text from products',
      )
    ).rows.map((r) => ({ productId: r.id, price: Number(r.price) }));
    say(
      `${products.length} products, ${customers.length} customers; the load generator is a separate process`,
    );
    reference = streamReference(base);
    let first = 0;
    for (const rate of options.rates) {
      say('');
      say(`offered ${rate} events/s for ${options.seconds} s`);
      say(`  uptime before: ${uptime()}`);
      const result = await load(
        {
          base,
          token: INGEST_TOKEN,
          rate,
          seconds: options.seconds,
          batch: options.batch,
          connections: 64,
          customers: customers.map((c) => c.id),
          products,
          marker: MARKER,
          markEveryMs: options.markEveryMs,
          first,
        },
        home,
      );
      // The last marks' snapshots are due within the coalescing window and a frame; wait for them.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      say(`  uptime after:  ${uptime()}`);
      first = result.marks.at(-1)?.n ?? first;
      const pageSeen = await page.evaluate(() => (window as unknown as { benchSeen: Seen[] }).benchSeen);
      const computed = delays(result.marks, reference.seen, (s) => s.computedAt);
      const streamed = delays(result.marks, reference.seen, (s) => s.at);
      const drawn = delays(result.marks, pageSeen, (s) => s.at);
      say(
        `  accepted ${(result.accepted / result.seconds).toFixed(1)} events/s (${result.accepted} of ${result.sent} sent, ` +
          `${result.errors} requests failed); POST /v1/events p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms`,
      );
      say(
        `  ${result.marks.length} marked purchases; delay from their 202 to:   p50 ms   p99 ms   max ms   seen`,
      );
      const row = (name: string, d: number[]) =>
        say(
          `    ${name.padEnd(44)} ${percentile(d, 50).toFixed(0).padStart(6)}   ${percentile(d, 99).toFixed(0).padStart(6)}   ` +
            `${(d.at(-1) ?? NaN).toFixed(0).padStart(6)}   ${String(d.length).padStart(4)}`,
        );
      row('the snapshot computed (server, its own clock)', computed);
      row('the SSE message at a Node client (reference)', streamed);
      row("the page's product chart (Chromium)", drawn);
      const sentToStream = delays(result.marks, reference.seen, (s) => s.at, 'sentAt');
      const sentToPage = delays(result.marks, pageSeen, (s) => s.at, 'sentAt');
      say('  delay from sending their POST to:');
      row(
        'its 202',
        result.marks.map((m) => m.acceptedAt - m.sentAt).sort((a, b) => a - b),
      );
      row('the SSE message at a Node client (reference)', sentToStream);
      row("the page's product chart (Chromium)", sentToPage);
      const ratio = (p: number) => (percentile(sentToPage, p) / percentile(sentToStream, p)).toFixed(2);
      const minus = (p: number) => (percentile(drawn, p) - percentile(streamed, p)).toFixed(0);
      say(
        `  page ÷ reference (from sending): p50 ${ratio(50)}, p99 ${ratio(99)}; ` +
          `page − reference: p50 ${minus(50)} ms, p99 ${minus(99)} ms`,
      );
    }
    if (consoleErrors.length > 0) say(`console errors on the page: ${consoleErrors.join(' | ')}`);
  } finally {
    reference?.close();
    await browser.close();
    await stopWorker(server);
    await stopWorker(worker);
    await shop.end();
    await smtp.stop();
    await temporal.stop();
    await postgres.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
