/**
 * The abandoned-cart path under load: `npm run bench:carts [-- --shoppers 10000 --idle 60s --arrivals 10m]`.
 *
 * Starts its own stack in a temporary folder — embedded Postgres, a Temporal dev server (or uses the
 * server named by `--temporal-address`, `--temporal-pid` its process for the CPU figures), and cartflow's
 * own `worker --queue carts` and `server` commands as child processes, exactly as production runs them —
 * and an SMTP server of its own that catches the e-mails. It seeds a shop with one customer per shopper,
 * then plays all shoppers at once through `POST /v1/events`: each browses, fills a cart, and buys or
 * leaves, with think times shorter than the idle time, so every session is open at the same time
 * (`--arrivals 10m` spreads their first requests over ten minutes instead: a sustained rate).
 *
 * It prints events/s accepted, API latency p50/p99, expiry-to-e-mail delay p50/p99/max (expiry = the
 * moment the last event of the cart was acknowledged + the idle time), e-mails duplicated, carts that
 * should have had an e-mail and did not, e-mails no cart should have had, and the worker's memory. Two
 * references are measured in the same run: Temporal's own signal-with-start rate on this machine, and
 * its ceiling of workflow tasks per second for a workflow that only restarts a timer per signal
 * (bench/temporal-references.ts); the run's workflow tasks per event set the target against that ceiling.
 * It asserts nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { isInHoldout } from '../carts/rules';
import { parseDuration } from '../lib/config';
import { createPool } from '../lib/db';
import { startEmbeddedPostgres } from '../lib/embedded/postgres';
import { findFreePort, waitForPort } from '../lib/embedded/ports';
import { startScratchTemporal } from '../lib/embedded/temporal';
import { migrateDatabase } from '../lib/migrate';
import { ensureSearchAttributes } from '../lib/temporal';
import { TASK_QUEUES } from '../contracts/names';
import { cartQuery } from '../workflows/cart';
import {
  measureSignalReference,
  measureStartDelayReference,
  measureTaskCeiling,
} from './temporal-references';

const projectRoot = path.resolve(__dirname, '..');

interface Options {
  shoppers: number;
  idleMs: number;
  products: number;
  seed: number;
  /** How long to wait for late e-mails after the last expiry, at most. */
  drainMs: number;
  /**
   * Over how long shoppers arrive (their first requests spread evenly). By default within one think
   * time, so that every session is open together: a burst of new carts. Longer, it measures a
   * sustained rate of arrivals instead.
   */
  arrivalsMs: number | undefined;
  /**
   * The worker's V8 heap limit in MiB (NODE_OPTIONS=--max-old-space-size). The Temporal SDK sizes its
   * workflow cache from it (about 600 workflows per GiB); a cache smaller than the number of live carts
   * makes the worker fetch and replay a cart's whole history for every event.
   */
  workerHeapMb: number | undefined;
  /** A Temporal server to use instead of starting the dev server, and its process id when it runs here. */
  temporalAddress: string | undefined;
  temporalPid: number | undefined;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    shoppers: 10_000,
    idleMs: 60_000,
    products: 300,
    seed: 1,
    drainMs: 300_000,
    arrivalsMs: undefined,
    workerHeapMb: undefined,
    temporalAddress: undefined,
    temporalPid: undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--shoppers') options.shoppers = Number(value);
    else if (flag === '--idle') options.idleMs = parseDuration(value) ?? NaN;
    else if (flag === '--seed') options.seed = Number(value);
    else if (flag === '--drain') options.drainMs = parseDuration(value) ?? NaN;
    else if (flag === '--worker-heap') options.workerHeapMb = Number(value);
    else if (flag === '--arrivals') options.arrivalsMs = parseDuration(value) ?? NaN;
    else if (flag === '--temporal-address') options.temporalAddress = value;
    else if (flag === '--temporal-pid') options.temporalPid = Number(value);
    else
      throw new Error(
        `Unknown option ${flag}; use --shoppers N --idle 60s --seed S --arrivals 5m --worker-heap MiB --drain 5m ` +
          '--temporal-address host:port --temporal-pid PID',
      );
  }
  if (!Number.isInteger(options.shoppers) || options.shoppers < 1)
    throw new Error('--shoppers must be a whole number');
  if (!(options.drainMs >= 0)) throw new Error('--drain must be a duration, e.g. 5m');
  if (options.arrivalsMs !== undefined && !(options.arrivalsMs > 0))
    throw new Error('--arrivals must be a duration, e.g. 5m');
  if (options.temporalPid !== undefined && !Number.isInteger(options.temporalPid))
    throw new Error(
      '--temporal-pid must be the process id of the Temporal server named by --temporal-address',
    );
  if (!(options.idleMs >= 2000)) throw new Error('--idle must be a duration of at least 2s, e.g. 60s');
  return options;
}

/** A small seeded generator (mulberry32), so a seed plays the same shoppers. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** One planned request of a shopper: when (ms after the start) and which events. */
interface Step {
  at: number;
  events: Record<string, unknown>[];
}

interface Shopper {
  customerId: number;
  session: string;
  outcome: 'browse' | 'buy' | 'abandon';
  steps: Step[];
  /** When the last request was acknowledged (performance.now()), filled in while playing. */
  lastAck: number;
}

/** Customers the bench seeds: most consent, a few have no address; the shop's rules decide the rest. */
const consents = (id: number) => id % 7 !== 0;
const hasEmail = (id: number) => id % 20 !== 0;

function planShoppers(options: Options): Shopper[] {
  const draw = random(options.seed);
  const thinkMin = options.idleMs * 0.3;
  const thinkMax = options.idleMs * 0.8;
  const shoppers: Shopper[] = [];
  for (let i = 0; i < options.shoppers; i++) {
    const customerId = i + 1;
    const session = `bench-${options.seed}-${i}-${crypto.randomBytes(3).toString('hex')}`;
    const roll = draw();
    const outcome = roll < 0.1 ? 'browse' : roll < 0.4 ? 'buy' : 'abandon';
    const event = (type: string, productId: number, quantity = 1) => ({
      event_id: crypto.randomUUID(),
      event_type: type,
      user_id: String(customerId),
      user_session: session,
      product_id: String(productId),
      price: 5 + (productId % 50) * 4.5,
      quantity,
    });
    const steps: Step[] = [];
    // By default everyone starts within one think time, so that all sessions are open together.
    let at = draw() * (options.arrivalsMs ?? thinkMax);
    const next = () => (at += thinkMin + draw() * (thinkMax - thinkMin));
    const product = () => 1 + Math.floor(draw() * options.products);
    steps.push({ at, events: [event('view', product())] });
    if (outcome !== 'browse') {
      const cart = new Map<number, number>();
      const adds = 1 + Math.floor(draw() * 3);
      for (let a = 0; a < adds; a++) {
        const p = product();
        const quantity = 1 + Math.floor(draw() * 2);
        cart.set(p, (cart.get(p) ?? 0) + quantity);
        next();
        steps.push({ at, events: [event('view', p), event('cart', p, quantity)] });
      }
      if (cart.size > 1 && draw() < 0.3) {
        const [p, quantity] = [...cart.entries()][0];
        cart.delete(p);
        next();
        steps.push({ at, events: [event('remove_from_cart', p, quantity)] });
      }
      if (outcome === 'buy') {
        next();
        steps.push({
          at,
          events: [...cart.entries()].map(([p, quantity]) => event('purchase', p, quantity)),
        });
      }
    } else {
      next();
      steps.push({ at, events: [event('view', product())] });
    }
    shoppers.push({ customerId, session, outcome, steps, lastAck: 0 });
  }
  return shoppers;
}

interface CaughtMail {
  at: number;
  cart: string;
  kind: string;
  messageId: string;
}

/**
 * The SMTP server that catches the e-mails (bench/mail-catcher.ts, a process of its own), and what it
 * caught: when (on this process's performance.now() clock), which cart, which kind, which Message-ID.
 */
async function startMailCatcher(): Promise<{ url: string; mails: CaughtMail[]; stop(): Promise<void> }> {
  const mails: CaughtMail[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'mail-catcher.ts')], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`The mail catcher exited with ${code} before listening`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { port: number } | (CaughtMail & { at: number });
      if ('port' in message) resolve(message.port);
      else mails.push({ ...message, at: message.at - performance.timeOrigin });
    });
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    stop: () => stopChild(child),
  };
}

/** CPU seconds a process (and its reaped children) used so far, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime, stime, cutime and cstime: fields 14 to 17 of stat, 12 to 15 after the command name.
    return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds of a process and its live children (Postgres: the postmaster and every backend). */
function treeCpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  let total = cpuSeconds(pid);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = fs.readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(fields[1]) === pid) total += cpuSeconds(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}

function rssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

function startCommand(name: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'cli/main.ts'), ...args], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL')
      process.stderr.write(`bench: ${name} exited with ${code ?? signal}; see ${logFile}\n`);
  });
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** What the warehouse and Temporal say about a few carts, to tell a late e-mail from a lost one. */
async function explainCarts(warehouseUrl: string, address: string, sessions: string[]): Promise<string[]> {
  if (sessions.length === 0) return [];
  const warehouse = createPool(warehouseUrl, 'bench-explain', 2);
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  try {
    const lines: string[] = [];
    for (const session of sessions) {
      // The longest the server saw the session quiet between two accepted events: an e-mail to a
      // shopper who bought is right when the API accepted the purchase more than the idle time after
      // the event before (the bench's think times are shorter; a slow API can stretch them).
      const { rows } = await warehouse.query<{
        decisions: string | null;
        undelivered: number;
        longest_gap_s: number | null;
      }>(
        `select (select string_agg(kind || ' ' || decision || coalesce('/' || reason, ''), ', ')
                   from core.fact_retargeting where user_session = $1) as decisions,
                (select count(*)::int from staging.raw_event_ids
                  where user_session = $1 and forwarded_at is null) as undelivered,
                (select extract(epoch from max(gap))::float8 from (
                   select received_at - lag(received_at) over (order by received_at) as gap
                     from staging.raw_event_ids where user_session = $1) gaps) as longest_gap_s`,
        [session],
      );
      let workflow = '';
      try {
        const description = await client.workflow.getHandle(`cart-${session}`).describe();
        const pending = (description.raw.pendingActivities ?? []).map(
          (a) =>
            `${a.activityType?.name} attempt ${a.attempt}${a.lastFailure?.message ? ` (${a.lastFailure.message})` : ''}`,
        );
        workflow = `${description.status.name}, stage ${description.searchAttributes.Stage?.[0] ?? '?'}${pending.length ? `, pending ${pending.join('; ')}` : ''}`;
        if (process.env.CARTFLOW_BENCH_HISTORY === '1') {
          const view = await client.workflow.getHandle(`cart-${session}`).query(cartQuery);
          const ledger = await warehouse.query<{ line: string }>(
            `select to_char(i.received_at, 'HH24:MI:SS.US') || ' ' || r.event_type || ' ' ||
                    coalesce(to_char(i.forwarded_at, 'HH24:MI:SS.MS'), 'unforwarded') as line
               from staging.raw_event_ids i join staging.raw_events r using (event_id, event_time)
              where i.user_session = $1 order by i.received_at`,
            [session],
          );
          workflow += `\n        cart: ${view.cartId} lastReceivedAt ${view.lastReceivedAt} events ${view.eventCount}; ledger: ${ledger.rows.map((r) => r.line).join(', ')}`;
          const runs = [];
          for await (const run of client.workflow.list({ query: `WorkflowId = 'cart-${session}'` }))
            runs.push(`${run.runId.slice(0, 8)} ${run.status.name}`);
          workflow += `\n        runs: ${runs.join(', ')}`;
          const history = await client.workflow.getHandle(`cart-${session}`).fetchHistory();
          const tail = (history.events ?? []).slice(-14).map((event) => {
            const type = String(event.eventType);
            const timer = event.timerStartedEventAttributes?.startToFireTimeout;
            const result = event.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
            const time = new Date(Number(event.eventTime?.seconds ?? 0) * 1000).toISOString().slice(11, 19);
            return `${time} ${type}${timer ? ` ${timer.seconds ?? 0}s` : ''}${result ? ` ${Buffer.from(result).toString()}` : ''}`;
          });
          workflow += `\n        ${tail.join('\n        ')}`;
        }
      } catch (error) {
        workflow = (error as Error).message;
      }
      lines.push(
        `${session}: ${rows[0].decisions ?? 'no decision'}; ${rows[0].undelivered} undelivered; ` +
          `accepted events at most ${rows[0].longest_gap_s?.toFixed(0) ?? '-'} s apart; ${workflow}`,
      );
    }
    return lines;
  } finally {
    await warehouse.end();
    await connection.close();
  }
}

/** A new cart's first workflow task: when it was scheduled (performance.now() clock) and how long it waited in the shared queue. */
interface FirstTask {
  scheduledAt: number;
  waitMs: number;
}

/**
 * How long new carts' first workflow tasks waited in the carts' shared task queue (scheduled → started,
 * from their histories), for an even sample of the carts: every cart's first task comes from the
 * shared queue, so this is the wait the worker's pollers on that queue decide. Read after the run, so
 * it costs the run nothing.
 */
async function sampleFirstTasks(address: string, sessions: string[], sample: number): Promise<FirstTask[]> {
  const step = Math.max(1, sessions.length / sample);
  const picked = Array.from(
    { length: Math.min(sample, sessions.length) },
    (_, i) => sessions[Math.floor(i * step)],
  );
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const epochMs = (time: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    Number(time?.seconds ?? 0) * 1000 + (time?.nanos ?? 0) / 1e6;
  const { EventType } = temporal.api.enums.v1;
  const tasks: FirstTask[] = [];
  try {
    let next = 0;
    const lane = async () => {
      while (next < picked.length) {
        const session = picked[next++];
        try {
          // A bench session has one cart, so the latest run is its first.
          const history = await client.workflow.getHandle(`cart-${session}`).fetchHistory();
          const events = history.events ?? [];
          const scheduled = events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
          const startedTask = events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
          if (!scheduled) continue;
          // A first task still waiting when the run ended counts its wait so far.
          const at = epochMs(scheduled.eventTime);
          const until = startedTask ? epochMs(startedTask.eventTime) : Date.now();
          tasks.push({ scheduledAt: at - performance.timeOrigin, waitMs: until - at });
        } catch {
          // A cart that no longer exists or never started: not in the sample.
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));
  } finally {
    await connection.close();
  }
  return tasks;
}

/** A Temporal server this bench did not start: its address, and its process when it runs here. */
async function useTemporalServer(
  address: string,
  pid: number | undefined,
): Promise<{ address: string; pid: number | undefined; stop(): Promise<void> }> {
  const connection = await Connection.connect({ address });
  try {
    await ensureSearchAttributes(connection, 'default');
  } finally {
    await connection.close();
  }
  return { address, pid, stop: async () => undefined };
}

/** How many carts' histories the bench reads after the run for their first task's wait. */
const FIRST_TASK_SAMPLE = 600;

/** How often the timeline printed at the end is sampled. */
const TIMELINE_EVERY_MS = 15_000;

interface QueueStats {
  backlog: number;
  addRate: number;
  dispatchRate: number;
}

/** What the worker's SDK metrics say: its pollers per queue, and its tasks' schedule-to-start so far. */
interface WorkerGauges {
  sharedPollers: number;
  stickyPollers: number;
  /** Cumulative, in ms: a window's mean is the difference of two samples' sums over that of their counts. */
  scheduleToStartSumMs: number;
  scheduleToStartCount: number;
  /** Workflows in the worker's cache (its sticky cache): the live carts it holds in memory. */
  cachedWorkflows: number;
}

interface TimelineRow {
  at: number;
  accepted: number;
  mails: number;
  backlog: QueueStats | undefined;
  worker: WorkerGauges | undefined;
  /** CPU seconds each process used since the row before. */
  cpu: Record<string, number>;
}

/** The latest answer of `read`, asked every 2 s; undefined until it first answers, and after it fails. */
function keepAsking<T>(read: () => Promise<T>): { readonly latest: T | undefined; stop(): void } {
  let latest: T | undefined;
  const timer = setInterval(
    () =>
      void read().then(
        (value) => (latest = value),
        () => (latest = undefined),
      ),
    2000,
  );
  return {
    get latest() {
      return latest;
    },
    stop: () => clearInterval(timer),
  };
}

/** The carts' shared workflow task queue as the Temporal server reports it. */
async function watchCartQueue(
  address: string,
): Promise<{ readonly latest: QueueStats | undefined; stop(): Promise<void> }> {
  const connection = await Connection.connect({ address });
  const watch = keepAsking(async (): Promise<QueueStats> => {
    const { stats } = await connection.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: TASK_QUEUES.carts },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      reportStats: true,
    });
    return {
      backlog: Number(stats?.approximateBacklogCount ?? 0),
      addRate: stats?.tasksAddRate ?? 0,
      dispatchRate: stats?.tasksDispatchRate ?? 0,
    };
  });
  return {
    get latest() {
      return watch.latest;
    },
    async stop() {
      watch.stop();
      await connection.close();
    },
  };
}

/** The sum of a Prometheus metric's samples whose labels include `label` (all of them when omitted). */
function metricSum(text: string, name: string, label = ''): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(label)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** The worker's metrics endpoint (`CARTFLOW_WORKER_METRICS_PORT`). */
function watchWorkerMetrics(port: number): { readonly latest: WorkerGauges | undefined; stop(): void } {
  return keepAsking(async (): Promise<WorkerGauges> => {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text());
    return {
      sharedPollers: metricSum(text, 'temporal_num_pollers', 'poller_type="workflow_task"'),
      stickyPollers: metricSum(text, 'temporal_num_pollers', 'poller_type="sticky_workflow_task"'),
      scheduleToStartSumMs: metricSum(text, 'temporal_workflow_task_schedule_to_start_latency_sum'),
      scheduleToStartCount: metricSum(text, 'temporal_workflow_task_schedule_to_start_latency_count'),
      cachedWorkflows: metricSum(text, 'temporal_sticky_cache_size'),
    };
  });
}

/**
 * Where the time went, every 15 s of the run: events accepted and e-mails caught in that window, the
 * backlog of the carts' shared workflow task queue (where every new cart's first task waits) with the
 * server's add and dispatch rates, the worker's pollers on the shared and sticky queues and its
 * tasks' mean schedule-to-start, CPU seconds per process, and the delay of the e-mails whose carts
 * expired in that window — to tell a backlog that grows from a stall.
 */
function printTimeline(
  log: (line: string) => void,
  started: number,
  rows: TimelineRow[],
  shoppers: Shopper[],
  mailsBySession: Map<string, CaughtMail[]>,
  expected: Set<string>,
  idleMs: number,
  firstTasks: FirstTask[],
): void {
  log('');
  log(
    'timeline (per 15 s: events, e-mails, shared-queue backlog add/dispatch per s, worker pollers shared/sticky and schedule-to-start, workflow tasks/s and carts cached, CPU s, ' +
      "new carts' first-task wait in the shared queue (p50/max of the sampled carts scheduled then), delay of carts expiring then)",
  );
  const expiries = shoppers
    .filter((s) => expected.has(s.session))
    .map((s) => ({ expiry: s.lastAck + idleMs, mail: mailsBySession.get(s.session)?.[0] }));
  let previous: Pick<TimelineRow, 'at' | 'accepted' | 'mails' | 'worker'> = {
    at: started,
    accepted: 0,
    mails: 0,
    worker: undefined,
  };
  for (const row of rows) {
    const delays = expiries
      .filter(({ expiry }) => expiry >= previous.at && expiry < row.at)
      .map(({ expiry, mail }) => (mail ? mail.at - expiry : Infinity))
      .sort((a, b) => a - b);
    const backlog = row.backlog
      ? `${row.backlog.backlog} ${row.backlog.addRate.toFixed(0)}/${row.backlog.dispatchRate.toFixed(0)}`
      : '?';
    const tasks = (row.worker?.scheduleToStartCount ?? 0) - (previous.worker?.scheduleToStartCount ?? 0);
    const waited = (row.worker?.scheduleToStartSumMs ?? 0) - (previous.worker?.scheduleToStartSumMs ?? 0);
    const pollers = row.worker
      ? `${row.worker.sharedPollers}/${row.worker.stickyPollers} ${tasks > 0 ? (waited / tasks).toFixed(0) : '-'} ms`
      : '?';
    const work = row.worker
      ? `${((tasks * 1000) / (row.at - previous.at)).toFixed(0)} tasks/s, ${row.worker.cachedWorkflows} cached`
      : '';
    const cpu = Object.entries(row.cpu)
      .map(([name, seconds]) => `${name[0]}${seconds.toFixed(0)}`)
      .join(' ');
    const waits = firstTasks
      .filter(({ scheduledAt }) => scheduledAt >= previous.at && scheduledAt < row.at)
      .map(({ waitMs }) => waitMs)
      .sort((a, b) => a - b);
    const firstTask =
      waits.length === 0
        ? ''
        : `first task ${(percentile(waits, 50) / 1000).toFixed(1)}/${(waits.at(-1)! / 1000).toFixed(1)} s`;
    const delay =
      delays.length === 0
        ? ''
        : `${delays.length} expired: p50 ${(percentile(delays, 50) / 1000).toFixed(1)} s, max ${(delays.at(-1)! / 1000).toFixed(1)} s`;
    log(
      `  ${((row.at - started) / 1000).toFixed(0).padStart(5)} s  ${String(row.accepted - previous.accepted).padStart(6)} ev  ` +
        `${String(row.mails - previous.mails).padStart(5)} mails  backlog ${backlog.padEnd(12)}  pollers ${pollers.padEnd(12)}  ${work.padEnd(24)}  cpu ${cpu}  ${firstTask.padEnd(20)}  ${delay}`,
    );
    previous = row;
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-bench-carts-'));
  fs.chmodSync(home, 0o755);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(
    `cartflow bench:carts — ${options.shoppers} shoppers, idle ${options.idleMs / 1000} s, seed ${options.seed}`,
  );
  log(
    `  machine: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; state and logs in ${home}`,
  );

  const children: ChildProcess[] = [];
  const stoppers: (() => Promise<unknown>)[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      for (const child of children) await stopChild(child);
      for (const stop of [...stoppers].reverse()) await stop().catch(() => undefined);
      if (process.env.CARTFLOW_BENCH_KEEP !== '1') fs.rmSync(home, { recursive: true, force: true });
    })());
  process.once('SIGINT', () => {
    log('SIGINT: stopping the stack');
    void cleanUp().then(() => process.exit(130));
  });
  try {
    const postgres = await startEmbeddedPostgres({
      dir: path.join(home, 'postgres'),
      port: await findFreePort(),
      databases: ['warehouse', 'shop'],
      logFile: path.join(home, 'postgres.log'),
    });
    stoppers.push(() => postgres.stop());
    const warehouseUrl = postgres.url('warehouse');
    const shopUrl = postgres.url('shop');
    await migrateDatabase(warehouseUrl, 'warehouse');
    await migrateDatabase(shopUrl, 'shop');

    // The Temporal dev server exactly as `cartflow dev` starts it, or the server named by --temporal-address
    // (left running at the end; its search attributes registered as the cartflow commands would).
    const temporal = options.temporalAddress
      ? await useTemporalServer(options.temporalAddress, options.temporalPid)
      : await startScratchTemporal(home);
    stoppers.push(() => temporal.stop());

    const catcher = await startMailCatcher();
    stoppers.push(() => catcher.stop());

    const shop = createPool(shopUrl, 'bench');
    await shop.query(
      `insert into customers (customer_id, first_name, last_name, email, marketing_consent, signup_at)
       select i, 'Shopper' || i, 'Bench', case when i % 20 = 0 then null else 'shopper' || i || '@bench.test' end,
              i % 7 <> 0, now()
         from generate_series(1, $1::int) as i`,
      [options.shoppers],
    );
    await shop.query(
      `insert into products (product_id, sku, name, price)
       select i, 'SKU-' || i, 'Product ' || i, 5 + (i % 50) * 4.5 from generate_series(1, $1::int) as i`,
      [options.products],
    );
    await shop.end();

    const reference = await measureSignalReference(temporal.address, 1000);
    log(
      `  reference: Temporal alone takes ${reference.startRate.toFixed(0)} signal-with-starts/s of new workflows and ` +
        `${reference.signalRate.toFixed(0)} signals/s to existing ones (16 at a time, no worker)`,
    );
    const ceiling = await measureTaskCeiling({
      address: temporal.address,
      serverCpuSeconds: () => cpuSeconds(temporal.pid),
      workflows: 600,
      signalsEach: 4,
    });
    log(
      `  ceiling: Temporal completes ${ceiling.tasksPerSecond.toFixed(0)} workflow tasks/s of a workflow that only restarts a timer per signal ` +
        `(${ceiling.tasks} tasks; server ${ceiling.serverCpuMsPerTask.toFixed(1)} ms CPU per task, its worker and client ${ceiling.clientAndWorkerCpuMsPerTask.toFixed(1)} ms: ` +
        `${(((ceiling.serverCpuMsPerTask + ceiling.clientAndWorkerCpuMsPerTask) * ceiling.tasksPerSecond) / 1000).toFixed(2)} of ${os.cpus().length} cores busy)`,
    );

    const delay = await measureStartDelayReference({
      address: temporal.address,
      serverCpuSeconds: () => cpuSeconds(temporal.pid),
      workflows: 150,
      signalsEach: 3,
      roundGapMs: 4000,
    });
    log(
      `  start delay: a workflow with 3 signals costs the server ${delay.eachSignal.serverCpuMs.toFixed(1)} ms CPU in ${delay.eachSignal.tasks.toFixed(2)} tasks ` +
        `when each signal wakes it, ${delay.delayed.serverCpuMs.toFixed(1)} ms in ${delay.delayed.tasks.toFixed(2)} when they arrive during a start delay ` +
        `(${(delay.delayed.serverCpuMs / delay.eachSignal.serverCpuMs).toFixed(2)} ×; 150 workflows each)`,
    );

    const httpPort = await findFreePort();
    const token = crypto.randomBytes(18).toString('base64url');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CARTFLOW_HOME: home,
      CARTFLOW_WAREHOUSE_URL: warehouseUrl,
      CARTFLOW_SHOP_URL: shopUrl,
      TEMPORAL_ADDRESS: temporal.address,
      SMTP_URL: catcher.url,
      CARTFLOW_HTTP_PORT: String(httpPort),
      CARTFLOW_INGEST_TOKEN: token,
      CARTFLOW_SESSION_IDLE: `${options.idleMs}ms`,
      CARTFLOW_LOG_LEVEL: 'warn',
    };
    const workerMetricsPort = await findFreePort();
    const workerEnv = { ...env, CARTFLOW_WORKER_METRICS_PORT: String(workerMetricsPort) };
    const worker = startCommand(
      'worker',
      ['worker', '--queue', 'carts'],
      options.workerHeapMb
        ? { ...workerEnv, NODE_OPTIONS: `--max-old-space-size=${options.workerHeapMb}` }
        : workerEnv,
      path.join(home, 'worker.log'),
    );
    const server = startCommand('server', ['server'], env, path.join(home, 'server.log'));
    children.push(worker, server);
    await waitForPort(httpPort, 120_000, 'The cartflow server');
    // Up, but for the etl and ml queues, which this stack runs no worker for.
    for (;;) {
      const health = (await fetch(`http://127.0.0.1:${httpPort}/health`).then((r) => r.json())) as {
        components: Record<string, { up: boolean; detail: string }>;
      };
      const { workers, ...rest } = health.components;
      if (Object.values(rest).every((c) => c.up) && !workers.detail.includes('cartflow-carts')) break;
      await sleep(500);
    }

    const shoppers = planShoppers(options);
    const expected = new Set(
      shoppers
        .filter(
          (s) =>
            s.outcome === 'abandon' &&
            consents(s.customerId) &&
            hasEmail(s.customerId) &&
            !isInHoldout(String(s.customerId), 0.1),
        )
        .map((s) => s.session),
    );
    const totalEvents = shoppers.reduce(
      (sum, s) => sum + s.steps.reduce((n, step) => n + step.events.length, 0),
      0,
    );
    const lastPlanned = Math.max(...shoppers.map((s) => s.steps.at(-1)!.at));
    log(
      `  plan: ${totalEvents} events in ${shoppers.reduce((n, s) => n + s.steps.length, 0)} requests over ${(lastPlanned / 1000).toFixed(0)} s ` +
        `(offered ${(totalEvents / (lastPlanned / 1000)).toFixed(0)} events/s); ${expected.size} carts should get an e-mail`,
    );

    const queueWatch = await watchCartQueue(temporal.address);
    stoppers.push(() => queueWatch.stop());
    const workerWatch = watchWorkerMetrics(workerMetricsPort);
    stoppers.push(async () => workerWatch.stop());
    let peakWorkerMb = 0;
    let peakCached = 0;
    // The worker's memory before the first cart, and at the most carts it held: what a cart costs.
    const idleWorkerMb = rssMb(worker.pid);
    let mbAtPeakCached = NaN;
    const sampler = setInterval(() => {
      const mb = rssMb(worker.pid) || 0;
      peakWorkerMb = Math.max(peakWorkerMb, mb);
      const cached = workerWatch.latest?.cachedWorkflows ?? 0;
      if (cached > peakCached) [peakCached, mbAtPeakCached] = [cached, mb];
    }, 1000);
    stoppers.push(async () => clearInterval(sampler));

    const latencies: number[] = [];
    let accepted = 0;
    let duplicatesReported = 0;
    const failures = new Map<string, number>();
    const url = `http://127.0.0.1:${httpPort}/v1/events`;
    const cpu = () => ({
      temporal: cpuSeconds(temporal.pid),
      worker: cpuSeconds(worker.pid),
      server: cpuSeconds(server.pid),
      postgres: treeCpuSeconds(postgres.pid),
      bench: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
    });
    const cpuAtStart = cpu();
    const started = performance.now();
    const timeline: TimelineRow[] = [];
    let previousCpu = cpuAtStart;
    const timelineSampler = setInterval(() => {
      const now = cpu();
      timeline.push({
        at: performance.now(),
        accepted,
        mails: catcher.mails.length,
        backlog: queueWatch.latest,
        worker: workerWatch.latest,
        cpu: Object.fromEntries(
          Object.entries(now).map(([name, seconds]) => [
            name,
            seconds - previousCpu[name as keyof typeof now],
          ]),
        ),
      });
      previousCpu = now;
    }, TIMELINE_EVERY_MS);
    stoppers.push(async () => clearInterval(timelineSampler));
    let lastAckAt = started;
    let progressAt = started;
    const play = async (shopper: Shopper) => {
      for (const step of shopper.steps) {
        await sleep(started + step.at - performance.now());
        const sent = performance.now();
        const events = step.events.map((event) => ({ ...event, event_time: new Date().toISOString() }));
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ events }),
          });
          const body = (await response.json()) as { accepted?: number; duplicates?: number };
          const now = performance.now();
          latencies.push(now - sent);
          if (response.status === 202) {
            accepted += body.accepted ?? 0;
            duplicatesReported += body.duplicates ?? 0;
            shopper.lastAck = now;
            lastAckAt = Math.max(lastAckAt, now);
          } else failures.set(String(response.status), (failures.get(String(response.status)) ?? 0) + 1);
        } catch (error) {
          const key = (error as Error).message;
          failures.set(key, (failures.get(key) ?? 0) + 1);
        }
        if (performance.now() - progressAt > 15_000) {
          progressAt = performance.now();
          log(
            `  … ${((progressAt - started) / 1000).toFixed(0)} s: ${accepted} events accepted, ${catcher.mails.length} e-mails, worker ${rssMb(worker.pid).toFixed(0)} MB`,
          );
        }
      }
    };
    await Promise.all(shoppers.map(play));
    const playSeconds = (lastAckAt - started) / 1000;

    // Wait for the last expected expiry, then until every expected e-mail came, or no e-mail came for
    // 60 s (a backlog still drains: late is counted in the delays, missing only when nothing comes).
    const lastExpiry = Math.max(
      ...shoppers.filter((s) => expected.has(s.session)).map((s) => s.lastAck + options.idleMs),
    );
    await sleep(lastExpiry - performance.now());
    const received = () =>
      new Set(
        catcher.mails.filter((m) => m.kind === 'abandoned').map((m) => m.cart.replace(/:[0-9a-f]{8}$/, '')),
      );
    let seen = catcher.mails.length;
    let quietSince = performance.now();
    const drainUntil = performance.now() + options.drainMs;
    while (
      performance.now() - quietSince < 60_000 &&
      performance.now() < drainUntil &&
      [...expected].some((session) => !received().has(session))
    ) {
      await sleep(1000);
      if (catcher.mails.length !== seen) {
        seen = catcher.mails.length;
        quietSince = performance.now();
      }
      if (performance.now() - progressAt > 15_000) {
        progressAt = performance.now();
        log(`  … draining: ${received().size} of ${expected.size} expected e-mails so far`);
      }
    }
    await sleep(3000);
    clearInterval(sampler);
    clearInterval(timelineSampler);
    const finalWorkerMb = rssMb(worker.pid);
    const cpuAtEnd = cpu();
    const wallSeconds = (performance.now() - started) / 1000;

    const bySession = new Map<string, CaughtMail[]>();
    for (const mail of catcher.mails.filter((m) => m.kind === 'abandoned')) {
      const session = mail.cart.replace(/:[0-9a-f]{8}$/, '');
      bySession.set(session, [...(bySession.get(session) ?? []), mail]);
    }
    const delays: number[] = [];
    let duplicated = 0;
    let missed = 0;
    for (const shopper of shoppers) {
      const mails = bySession.get(shopper.session) ?? [];
      if (mails.length > 1) duplicated += mails.length - 1;
      if (!expected.has(shopper.session)) continue;
      if (mails.length === 0) missed++;
      else delays.push(mails[0].at - (shopper.lastAck + options.idleMs));
    }
    const unexpectedSessions = [...bySession.keys()].filter((session) => !expected.has(session));
    const unexpected = unexpectedSessions.length;
    const missedSessions = [...expected].filter((session) => !bySession.has(session));
    latencies.sort((a, b) => a - b);
    delays.sort((a, b) => a - b);
    const eventsPerSecond = accepted / playSeconds;

    log('');
    log('results');
    log(
      `  events accepted           ${accepted} of ${totalEvents} in ${playSeconds.toFixed(1)} s = ${eventsPerSecond.toFixed(0)} events/s (target 200)`,
    );
    log(
      `                            ${(eventsPerSecond / reference.signalRate).toFixed(2)} × Temporal's own signal rate measured above`,
    );
    log(
      `  requests failed           ${failures.size === 0 ? 0 : JSON.stringify(Object.fromEntries(failures))}; duplicates reported by the API ${duplicatesReported}`,
    );
    log(
      `  API latency               p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms (${latencies.length} requests)`,
    );
    log(
      `  expiry → e-mail           p50 ${(percentile(delays, 50) / 1000).toFixed(2)} s, p99 ${(percentile(delays, 99) / 1000).toFixed(2)} s, max ${((delays.at(-1) ?? NaN) / 1000).toFixed(2)} s (target p99 ≤ 5 s; ${delays.length} e-mails)`,
    );
    log(`  e-mails duplicated        ${duplicated} (target 0)`);
    log(
      `  carts missed              ${missed} of ${expected.size} that should have had an e-mail (target 0)`,
    );
    log(`  e-mails nobody should get ${unexpected}`);
    for (const [what, sessions] of [
      ['missed', missedSessions],
      ['unexpected', unexpectedSessions],
    ] as const) {
      for (const line of await explainCarts(warehouseUrl, temporal.address, sessions.slice(0, 5)))
        log(`    ${what}: ${line}`);
    }
    log(
      `  worker memory (RSS)       peak ${peakWorkerMb.toFixed(0)} MB, at the end ${finalWorkerMb.toFixed(0)} MB` +
        `${options.workerHeapMb ? ` (heap limit ${options.workerHeapMb} MiB)` : ''}`,
    );
    log(
      `                            ${idleWorkerMb.toFixed(0)} MB before the first cart; ${peakCached} carts cached at most, ` +
        `${mbAtPeakCached.toFixed(0)} MB then: ${(((mbAtPeakCached - idleWorkerMb) * 1024) / peakCached).toFixed(0)} KB per cached cart ` +
        `(10,000 carts ≈ ${(idleWorkerMb + ((mbAtPeakCached - idleWorkerMb) * 10_000) / peakCached).toFixed(0)} MB)`,
    );
    log(
      `  CPU seconds in ${wallSeconds.toFixed(0)} s    ` +
        Object.entries(cpuAtEnd)
          .map(
            ([name, seconds]) =>
              `${name} ${(seconds - cpuAtStart[name as keyof typeof cpuAtStart]).toFixed(0)}`,
          )
          .join(', ') +
        ` (load average now ${os.loadavg()[0].toFixed(1)})`,
    );
    const cartTasks = workerWatch.latest?.scheduleToStartCount ?? NaN;
    const tasksPerEvent = cartTasks / accepted;
    // What one accepted event cost each process, all in: the Temporal server, the carts worker, the API
    // server and Postgres (the bench, the storefront here, is listed apart).
    const used = (name: keyof typeof cpuAtStart) => cpuAtEnd[name] - cpuAtStart[name];
    const perEvent = (seconds: number) => ((seconds * 1000) / accepted).toFixed(2);
    const allIn = used('temporal') + used('worker') + used('server') + used('postgres');
    log(
      `  CPU per event             ${perEvent(allIn)} ms all in (target ≤ 6): Temporal ${perEvent(used('temporal'))}, ` +
        `worker ${perEvent(used('worker'))}, API server ${perEvent(used('server'))}, Postgres ${perEvent(used('postgres'))}; ` +
        `bench ${perEvent(used('bench'))}`,
    );
    log(
      `  workflow tasks            ${cartTasks} = ${(cartTasks / wallSeconds).toFixed(0)}/s, ${tasksPerEvent.toFixed(2)} per event; ` +
        `server ${(((cpuAtEnd.temporal - cpuAtStart.temporal) * 1000) / cartTasks).toFixed(1)} ms CPU per task, ` +
        `worker ${(((cpuAtEnd.worker - cpuAtStart.worker) * 1000) / cartTasks).toFixed(1)} ms ` +
        `(target ≤ 0.25 per event; the ceiling's task: server ${ceiling.serverCpuMsPerTask.toFixed(1)} ms, its worker and client ${ceiling.clientAndWorkerCpuMsPerTask.toFixed(1)} ms)`,
    );
    log(
      `                            200 events/s would ask ${(200 * tasksPerEvent).toFixed(0)} tasks/s = ` +
        `${((200 * tasksPerEvent) / ceiling.tasksPerSecond).toFixed(2)} × the ceiling measured above ` +
        `(at this run's tasks per event; signals that wait behind a backlog share a task)`,
    );
    const firstTasks = await sampleFirstTasks(
      temporal.address,
      shoppers.filter((s) => s.outcome !== 'browse').map((s) => s.session),
      FIRST_TASK_SAMPLE,
    );
    const waits = firstTasks.map((t) => t.waitMs).sort((a, b) => a - b);
    log(
      `  first task of a new cart  waited p50 ${(percentile(waits, 50) / 1000).toFixed(2)} s, p99 ${(percentile(waits, 99) / 1000).toFixed(2)} s, ` +
        `max ${((waits.at(-1) ?? NaN) / 1000).toFixed(2)} s in the shared queue (${waits.length} carts sampled)`,
    );
    printTimeline(log, started, timeline, shoppers, bySession, expected, options.idleMs, firstTasks);
  } finally {
    await cleanUp();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:carts failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
