/**
 * `npx tsx bench/events-path.ts`: where the time of `POST /v1/events` with one event per request goes.
 * It starts its own Postgres, Temporal, SMTP sink, `cartflow worker --queue carts` and `cartflow server`
 * (with bench/process-probe.ts preloaded), then measures, one request at a time (BENCH_EVENTS_REQUESTS,
 * default 300, each kind):
 *
 *   1. The parts in this process, each on its own: the bearer check, JSON.parse and the schema
 *      validation (µs, over 10,000 calls), the atomic insert (storeEvents: the ledger, the event and the
 *      live aggregates, one statement and one commit) and the forwarding (forwarder.forward: one
 *      signal-with-start of a new cart, or one signal of a cart already open).
 *   2. The same through HTTP against the server: a cart event of a new session (starts a cart workflow),
 *      a second cart event of an open session (signals it), and a view of a session without a cart
 *      (stored only, nothing sent to Temporal): p50/p99 latency, events/s one at a time, the server's
 *      CPU per request.
 *   3. BENCH_EVENTS_CONNECTIONS (default 16) clients for BENCH_EVENTS_SECONDS (default 10) each, new
 *      carts, views, and purchases of new sessions (as bench:live sends: each starts a cart, and each
 *      insert adds to the same 5-minute row of mart.live_revenue_5m): events/s, and CPU per event of
 *      every process that used any, from /proc.
 *
 * It prints figures and asserts nothing; `uptime` before and after.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { TASK_QUEUES } from '../contracts/names';
import { loadConfig } from '../lib/config';
import { createPool } from '../lib/db';
import { createLogger } from '../lib/log';
import { cartSettingsFrom, createCartForwarder } from '../server/cart-forwarder';
import { validateBatch } from '../server/events';
import type { IncomingEvent } from '../server/events-schema';
import { storeEvents } from '../server/events-store';
import { machineWatch } from './machine-watch';
import { serverProbe } from './process-probe';
import { startBenchStack, startProbedServer } from './bench-stack';
import { startWorker, stopWorker } from './worker-process';

const REQUESTS = Number(process.env.BENCH_EVENTS_REQUESTS ?? 300);
const CONNECTIONS = Number(process.env.BENCH_EVENTS_CONNECTIONS ?? 16);
const SECONDS = Number(process.env.BENCH_EVENTS_SECONDS ?? 10);
const TOKEN = 'bench-events-token';

const say = (line: string) => process.stdout.write(`${line}\n`);
const uptime = () => spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();
const percentile = (values: number[], p: number) => {
  const sorted = Float64Array.from(values).sort();
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const figures = (ms: number[]) =>
  `p50 ${percentile(ms, 50).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms`;

let sequence = 0;
/** One event of a session; a new session each call unless `session` is given. */
function event(
  type: 'cart' | 'view' | 'purchase',
  session = `bench-events-${process.pid}-${++sequence}`,
): IncomingEvent {
  return {
    event_id: crypto.randomUUID(),
    event_time: new Date().toISOString(),
    event_type: type,
    user_id: `customer-${sequence % 500}`,
    user_session: session,
    product_id: `product-${sequence % 200}`,
    price: 12.5,
    quantity: 1,
  };
}

/** Times `work` run `n` times one after the other, ms each. */
async function timeEach(n: number, work: (i: number) => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await work(i);
    times.push(performance.now() - started);
  }
  return times;
}

/** µs per call of a synchronous `work`, over `n` calls after as many to warm up. */
function microseconds(n: number, work: (i: number) => unknown): number {
  for (let i = 0; i < n; i++) work(i);
  const started = performance.now();
  for (let i = 0; i < n; i++) work(i);
  return ((performance.now() - started) * 1000) / n;
}

function post(agent: http.Agent, base: URL, events: IncomingEvent[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path: '/v1/events',
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ events }));
  });
}

async function main(): Promise<void> {
  say(`cartflow events path (${os.cpus().length} CPUs); uptime before: ${uptime()}`);
  const stack = await startBenchStack('events', TOKEN);
  const { client, env, httpPort } = stack;
  const warehouse = createPool(env.CARTFLOW_WAREHOUSE_URL, 'bench', 4);
  let worker: ChildProcess | undefined;
  let server: ChildProcess | undefined;
  try {
    worker = await startWorker(env, ['carts']);
    const probed = await startProbedServer(stack);
    server = probed.server;
    const { probeFile } = probed;

    say('');
    say(`1. The parts, in this process, ${REQUESTS} one at a time`);
    const expected = crypto.createHash('sha256').update(TOKEN).digest();
    const header = `Bearer ${TOKEN}`;
    say(
      `  bearer check (regex, sha256, timingSafeEqual): ${microseconds(10_000, () => {
        const match = /^Bearer\s+(\S+)\s*$/i.exec(header)!;
        return crypto.timingSafeEqual(crypto.createHash('sha256').update(match[1]).digest(), expected);
      }).toFixed(1)} µs`,
    );
    const bodies = Array.from({ length: 1000 }, () => JSON.stringify({ events: [event('cart')] }));
    say(
      `  JSON.parse + schema validation of one event: ${microseconds(10_000, (i) =>
        validateBatch(JSON.parse(bodies[i % bodies.length])),
      ).toFixed(1)} µs`,
    );
    const forwarder = createCartForwarder({
      client,
      warehouse,
      taskQueue: TASK_QUEUES.carts,
      settings: cartSettingsFrom(loadConfig({ ...process.env, ...env })),
      logger: createLogger('warn'),
    });
    const carts = Array.from({ length: REQUESTS }, () => event('cart'));
    const seconds = Array.from({ length: REQUESTS }, (_, i) => event('cart', carts[i].user_session));
    const views = Array.from({ length: REQUESTS }, () => event('view'));
    // Each event stored and then forwarded at once, as the server does (else the relay would take them).
    const parts = async (events: IncomingEvent[]) => {
      const insert: number[] = [];
      const forward: number[] = [];
      for (const e of events) {
        const started = performance.now();
        const { stored } = await storeEvents(warehouse, [e]);
        const storedAt = performance.now();
        await forwarder.forward(stored);
        insert.push(storedAt - started);
        forward.push(performance.now() - storedAt);
      }
      return { insert: figures(insert), forward: figures(forward) };
    };
    const newCarts = await parts(carts);
    const secondEvents = await parts(seconds);
    const viewsOnly = await parts(views);
    say(
      `  storeEvents (one statement, one commit): a cart event ${newCarts.insert}; a view ${viewsOnly.insert}`,
    );
    say(`  forward, a new cart (signal-with-start): ${newCarts.forward}`);
    say(`  forward, the cart's second event (signal of the open run): ${secondEvents.forward}`);
    say(`  forward, a view of a session without a cart (nothing sent): ${viewsOnly.forward}`);

    say('');
    say(`2. POST /v1/events through HTTP, one event per request, ${REQUESTS} one at a time`);
    const base = new URL(`http://127.0.0.1:${httpPort}`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const kinds: [string, () => IncomingEvent[]][] = [];
    const sessions: string[] = [];
    kinds.push([
      'a new cart',
      () => {
        const e = event('cart');
        sessions.push(e.user_session);
        return [e];
      },
    ]);
    kinds.push(['the cart’s second event', () => [event('cart', sessions.shift())]]);
    kinds.push(['a view, no cart', () => [event('view')]]);
    for (const [name, make] of kinds) {
      await serverProbe(probed.server, probeFile);
      const started = performance.now();
      const times = await timeEach(REQUESTS, async () => {
        const status = await post(agent, base, make());
        if (status !== 202) throw new Error(`POST /v1/events answered ${status}`);
      });
      const wall = (performance.now() - started) / 1000;
      const probe = await serverProbe(probed.server, probeFile);
      say(
        `  ${name.padEnd(24)} ${figures(times)}, ${(REQUESTS / wall).toFixed(0)} events/s; ` +
          `server ${((probe.cpuSeconds * 1000) / REQUESTS).toFixed(2)} ms CPU per request, loop delay p99 ${probe.eventLoopDelay.p99.toFixed(1)} ms`,
      );
    }

    say('');
    say(`3. ${CONNECTIONS} clients, ${SECONDS} s each, one event per request`);
    for (const type of ['cart', 'view', 'purchase'] as const) {
      await serverProbe(probed.server, probeFile);
      const watch = machineWatch();
      const until = performance.now() + SECONDS * 1000;
      let accepted = 0;
      const times: number[] = [];
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (performance.now() < until) {
            const started = performance.now();
            if ((await post(agent, base, [event(type)])) === 202) accepted++;
            times.push(performance.now() - started);
          }
        }),
      );
      const machine = watch();
      const probe = await serverProbe(probed.server, probeFile);
      say(
        `  ${{ cart: 'new carts', view: 'views', purchase: 'purchases, new sessions (each starts a cart)' }[type]}: ${(accepted / SECONDS).toFixed(0)} events/s, ${figures(times)}; ` +
          `server ${((probe.cpuSeconds * 1000) / accepted).toFixed(2)} ms CPU per event, machine ${(100 * machine.busy).toFixed(0)}% busy`,
      );
      for (const p of machine.top)
        say(
          `      ${((p.cores * SECONDS * 1000) / accepted).toFixed(2).padStart(6)} ms CPU per event  ${p.command.slice(0, 90)}`,
        );
    }
    agent.destroy();
    say('');
    say(`uptime after: ${uptime()}`);
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
