/**
 * The load generator of `npm run bench:live`, run by it in a process of its own so that its work is
 * not on the measured server's event loop nor in the browser's. Argument: a JSON file holding a
 * LivePlan. It posts purchase events through `POST /v1/events` open loop, `rate` events per second due
 * evenly (a request waits for a free connection when all are busy), and, on one connection of their
 * own and one at a time, a marked purchase every `markEveryMs`: one unit of `marker.productId`, so the
 * marker's units on the page count the marked purchases stored, in order. It prints one JSON line
 * (LiveLoadResult) and asserts nothing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface LivePlan {
  base: string;
  token: string;
  rate: number;
  seconds: number;
  /** Events per request. */
  batch: number;
  connections: number;
  customers: string[];
  products: { productId: string; price: number }[];
  marker: { productId: string; price: number };
  markEveryMs: number;
  /** The marker's units already stored before this run (the first mark of this run is number first + 1). */
  first: number;
}

export interface LiveLoadResult {
  /** Events posted and accepted (202), marks included; requests refused or failed. */
  sent: number;
  accepted: number;
  errors: number;
  seconds: number;
  /** Latency of the events' requests, from when each was due to its answer, ms. */
  p50: number;
  p99: number;
  /** Each mark: its number (the marker's units once it is stored), when it was sent and when its 202 arrived (ms since the epoch). */
  marks: { n: number; sentAt: number; acceptedAt: number }[];
}

const now = () => performance.timeOrigin + performance.now();
const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function run(plan: LivePlan): Promise<LiveLoadResult> {
  const url = new URL(plan.base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.connections });
  const markAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const headers = { authorization: `Bearer ${plan.token}`, 'content-type': 'application/json' };
  const latencies: number[] = [];
  const marks: LiveLoadResult['marks'] = [];
  let sent = 0;
  let accepted = 0;
  let errors = 0;
  let next = 0;
  const purchase = (product: { productId: string; price: number }, quantity: number) => ({
    event_id: crypto.randomUUID(),
    event_time: new Date().toISOString(),
    event_type: 'purchase',
    user_id: plan.customers[next % plan.customers.length],
    user_session: `bench-live-${crypto.randomBytes(8).toString('hex')}`,
    product_id: product.productId,
    price: product.price,
    quantity,
  });
  const post = (events: unknown[], via: http.Agent) =>
    new Promise<boolean>((resolve) => {
      sent += events.length;
      const body = JSON.stringify({ events });
      const req = http.request(
        { host: url.hostname, port: url.port, path: '/v1/events', method: 'POST', agent: via, headers },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => {
            if (response.statusCode === 202) {
              accepted += (JSON.parse(text) as { accepted: number }).accepted;
              resolve(true);
            } else {
              errors++;
              resolve(false);
            }
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve(false);
      });
      req.end(body);
    });

  const started = performance.now();
  const until = started + plan.seconds * 1000;
  const pending: Promise<unknown>[] = [];
  // The marks: one at a time on their own connection, so they are stored in the order of their numbers.
  const marking = (async () => {
    let n = plan.first;
    for (let due = started + plan.markEveryMs / 2; due < until; due += plan.markEveryMs) {
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const sentAt = now();
      if (await post([purchase(plan.marker, 1)], markAgent))
        marks.push({ n: ++n, sentAt, acceptedAt: now() });
      else break; // a refused mark would shift the numbers of the later ones
    }
  })();
  const interval = (1000 * plan.batch) / plan.rate;
  let requests = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const t = performance.now();
      while (requests * interval <= Math.min(t, until) - started) {
        const due = started + requests * interval;
        const events = Array.from({ length: plan.batch }, () => {
          next++;
          return purchase(plan.products[next % plan.products.length], 1 + (next % 3));
        });
        pending.push(post(events, agent).then(() => latencies.push(performance.now() - due)));
        requests++;
      }
      if (t >= until) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all([...pending, marking]);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  markAgent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return { sent, accepted, errors, seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), marks };
}

run(JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as LivePlan)
  .then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
  .catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  });
