import type { Client } from '@temporalio/client';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { TASK_QUEUES } from '../contracts/names';
import { temporal } from '@temporalio/proto';

export interface ComponentHealth {
  up: boolean;
  detail: string;
}

export interface HealthReport {
  status: 'up' | 'degraded';
  components: Record<string, ComponentHealth>;
}

export interface HealthDeps {
  warehouse: pg.Pool;
  shop: pg.Pool;
  temporal: Client;
  smtpUrl: string;
  taskQueues?: Record<string, string>;
}

const CHECK_TIMEOUT_MS = 3000;
/**
 * How long `GET /health` reuses a probe's report before it starts a new one. A probe asks the
 * databases, Temporal (its version and every task queue's pollers) and the SMTP server; at hundreds of
 * requests per second that is the server's whole work.
 */
export const HEALTH_CACHE_MS = 1000;

/**
 * `checkHealth` behind a short cache: the report of the last probe while it is under `maxAgeMs` old
 * (counted from when the probe finished). After that the next caller starts one new probe, shared by
 * every caller that asks while it runs, and they are all answered the last report meanwhile as long as
 * it is under `maxAgeMs + staleMs` old (a probe gives up after CHECK_TIMEOUT_MS), so no request waits
 * for a probe but the very first ones and those after a long gap. A probe that throws is not kept: the
 * callers that waited for it get its error, the others keep the last report until it is too old.
 */
export function cachedHealth(
  deps: HealthDeps,
  maxAgeMs = HEALTH_CACHE_MS,
  probe: (deps: HealthDeps) => Promise<HealthReport> = checkHealth,
  staleMs = CHECK_TIMEOUT_MS + 1000,
): () => Promise<HealthReport> {
  let last: { report: HealthReport; at: number } | undefined;
  let running: Promise<HealthReport> | undefined;
  return () => {
    const age = last ? performance.now() - last.at : Infinity;
    if (age < maxAgeMs) return Promise.resolve(last!.report);
    running ??= probe(deps)
      .then((report) => {
        last = { report, at: performance.now() };
        return report;
      })
      .finally(() => (running = undefined));
    if (age < maxAgeMs + staleMs) {
      running.catch(() => undefined); // this caller is answered the last report; the error is not its
      return Promise.resolve(last!.report);
    }
    return running;
  };
}

/** Asks each component whether it is up: the databases, Temporal, the SMTP server and the workers. */
export async function checkHealth(deps: HealthDeps): Promise<HealthReport> {
  const checks: Record<string, () => Promise<string>> = {
    warehouse: () => checkPostgres(deps.warehouse),
    shop: () => checkPostgres(deps.shop),
    temporal: async () => {
      const info = await deps.temporal.workflowService.getSystemInfo({});
      return `server ${info.serverVersion || 'dev'}`;
    },
    smtp: () => checkSmtp(deps.smtpUrl),
    workers: () => checkWorkers(deps.temporal, deps.taskQueues ?? TASK_QUEUES),
  };
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        return [name, { up: true, detail: await withTimeout(check(), name) }] as const;
      } catch (error) {
        return [name, { up: false, detail: (error as Error).message }] as const;
      }
    }),
  );
  const components = Object.fromEntries(entries);
  return { status: entries.every(([, health]) => health.up) ? 'up' : 'degraded', components };
}

async function checkPostgres(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ version: string }>(
    `select current_setting('server_version') as version`,
  );
  return `postgres ${rows[0].version}`;
}

async function checkWorkers(client: Client, taskQueues: Record<string, string>): Promise<string> {
  const missing: string[] = [];
  for (const taskQueue of Object.values(taskQueues)) {
    const response = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    if ((response.pollers ?? []).length === 0) missing.push(taskQueue);
  }
  if (missing.length > 0)
    throw new Error(`no worker polls ${missing.join(', ')}; start one with "cartflow worker"`);
  return `polling ${Object.values(taskQueues).join(', ')}`;
}

/** Connects and reads the server's greeting; an SMTP server greets with 220. */
function checkSmtp(smtpUrl: string): Promise<string> {
  const url = new URL(smtpUrl);
  const port = Number(url.port || (url.protocol === 'smtps:' ? 465 : 25));
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port });
    socket.setTimeout(CHECK_TIMEOUT_MS);
    socket.once('data', (data) => {
      socket.end('QUIT\r\n');
      const greeting = data.toString('utf8').trim();
      if (greeting.startsWith('220') || url.protocol === 'smtps:')
        resolve(`${url.hostname}:${port} answered`);
      else reject(new Error(`${url.hostname}:${port} greeted with "${greeting.slice(0, 80)}"`));
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`${url.hostname}:${port} did not greet within ${CHECK_TIMEOUT_MS} ms`));
    });
    socket.once('error', (error) => reject(new Error(`${url.hostname}:${port}: ${error.message}`)));
  });
}

function withTimeout<T>(promise: Promise<T>, name: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${name} did not answer within ${CHECK_TIMEOUT_MS} ms`)),
        CHECK_TIMEOUT_MS,
      );
    }),
  ]);
}
