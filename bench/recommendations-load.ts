/**
 * The load generator of `npm run bench:recommendations`, run by it in processes of their own so that its
 * work is not on the measured server's event loop. Argument: a JSON file holding a LoadPlan. It prints one
 * JSON line (LoadResult: every latency, and the generator's own CPU and event-loop delay) and asserts
 * nothing. The benchmark may run several at once, each with its share of the rate and connections.
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
import { startProbe, type ProcessProbe } from './process-probe';

export interface LoadPlan {
  base: string;
  token?: string;
  /** Request paths, used in turn (the caller samples them). */
  paths: string[];
  mode: 'rate' | 'closed';
  /** Requests in the first this many seconds are sent but not counted (connections open, code warms up). */
  warmupSeconds?: number;
  /** A process sent SIGUSR2 when the counted requests start (the server's probe, bench/process-probe.ts). */
  signalAtStart?: number;
  /** Requests per second (mode `rate`). */
  rate?: number;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  errors: number;
  /** Every answered request's latency, ms. */
  latencies: number[];
  /** Open loop: how late each request was sent after it was due, ms (the generator's own lag). */
  sendLags: number[];
  /** Wall time from the first request due to the last answer, s. */
  seconds: number;
  /** The generator process's own CPU, event loop and GC over the run. */
  generator: ProcessProbe;
}

async function run(plan: LoadPlan): Promise<LoadResult> {
  const url = new URL(plan.base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.connections });
  const headers = plan.token ? { authorization: `Bearer ${plan.token}` } : {};
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const sendLags: number[] = [];
  const request = (due: number) =>
    new Promise<void>((resolve) => {
      if (plan.mode === 'rate' && due >= counted) sendLags.push(performance.now() - due);
      const path = plan.paths[next++ % plan.paths.length];
      const req = http.get(
        { host: url.hostname, port: url.port, path, agent, headers },
        (response: http.IncomingMessage) => {
          response.on('data', () => undefined);
          response.on('end', () => {
            if (due >= counted) {
              if (response.statusCode !== 200) errors++;
              latencies.push(performance.now() - due);
            }
            resolve();
          });
        },
      );
      req.on('error', () => {
        if (due >= counted) {
          errors++;
          latencies.push(performance.now() - due);
        }
        resolve();
      });
    });

  const warmup = (plan.warmupSeconds ?? 0) * 1000;
  const probe = startProbe();
  const started = performance.now();
  const counted = started + warmup;
  const until = counted + plan.seconds * 1000;
  setTimeout(() => {
    probe.take(); // the counts start again when the requests do
    if (plan.signalAtStart) process.kill(plan.signalAtStart, 'SIGUSR2');
  }, warmup).unref();
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
  const seconds = (performance.now() - counted) / 1000;
  const generator = probe.take();
  agent.destroy();
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return { errors, latencies: latencies.map(round), sendLags: sendLags.map(round), seconds, generator };
}

run(JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as LoadPlan)
  .then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
  .catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  });
