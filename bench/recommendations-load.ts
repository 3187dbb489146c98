/**
 * The load generator of `npm run bench:recommendations`, run by it in a process of its own so that its
 * work is not on the measured server's event loop. Argument: a JSON file holding a LoadPlan. It prints one
 * JSON line (LoadResult) and asserts nothing.
 *
 * - `rate`: open loop. Requests are due at `rate` per second, evenly, over at most `connections` kept-
 *   alive connections; a request waits for a free connection when all are busy. Latency is measured
 *   from when the request was due, so a slow server is not hidden by the client waiting for it.
 * - `closed`: `connections` clients, each sending its next request when its last one is answered: the
 *   throughput the server manages, with latency = the queue of `connections` requests.
 */
import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface LoadPlan {
  base: string;
  token?: string;
  /** Request paths, used in turn (the caller samples them). */
  paths: string[];
  mode: 'rate' | 'closed';
  /** Requests per second (mode `rate`). */
  rate?: number;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
  /** Answered requests per second. */
  rate: number;
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function run(plan: LoadPlan): Promise<LoadResult> {
  const url = new URL(plan.base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.connections });
  const headers = plan.token ? { authorization: `Bearer ${plan.token}` } : {};
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const request = (due: number) =>
    new Promise<void>((resolve) => {
      const path = plan.paths[next++ % plan.paths.length];
      const req = http.get(
        { host: url.hostname, port: url.port, path, agent, headers },
        (response: http.IncomingMessage) => {
          response.on('data', () => undefined);
          response.on('end', () => {
            if (response.statusCode !== 200) errors++;
            latencies.push(performance.now() - due);
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        latencies.push(performance.now() - due);
        resolve();
      });
    });

  const started = performance.now();
  const until = started + plan.seconds * 1000;
  const pending: Promise<void>[] = [];
  if (plan.mode === 'closed') {
    for (let c = 0; c < plan.connections; c++)
      pending.push(
        (async () => {
          while (performance.now() < until) await request(performance.now());
        })(),
      );
  } else {
    const interval = 1000 / (plan.rate ?? 1000);
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        // Every request due by now, each timed from its own due time.
        while (sent * interval <= Math.min(now, until) - started) {
          pending.push(request(started + sent * interval));
          sent++;
        }
        if (now >= until) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    errors,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    rate: latencies.length / elapsed,
  };
}

run(JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as LoadPlan)
  .then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
  .catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  });
