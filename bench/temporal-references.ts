/**
 * bench:carts' references, measured against the Temporal server in use on this machine: its rates of
 * signal-with-start and signals, and its ceiling of workflow tasks per second.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { CartWorkflow, cartEventsSignal } from '../workflows/cart';
import { CeilingWorkflow, pokeSignal } from './ceiling-workflow';

/** Calls `send` for 0 to count - 1, `concurrency` calls at a time. */
async function inLanes(
  count: number,
  concurrency: number,
  send: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/**
 * Temporal's own rates on this machine, the reference the API's rate is set against: signal-with-start
 * of new workflows, and signals to existing ones (what most events are), 16 at a time, no worker.
 */
export async function measureSignalReference(
  address: string,
  count: number,
): Promise<{ startRate: number; signalRate: number }> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const queue = `bench-reference-${crypto.randomBytes(3).toString('hex')}`;
  const started = performance.now();
  await inLanes(count, 16, (i) =>
    client.workflow.signalWithStart(CartWorkflow, {
      workflowId: `bench-reference-${queue}-${i}`,
      taskQueue: queue,
      args: [
        {
          userSession: `reference-${i}`,
          settings: {
            sessionIdleMs: 60_000,
            reminderDelayMs: null,
            attributionWindowMs: 60_000,
            highValueThreshold: 200,
            highValuePercent: 10,
          },
        },
      ],
      signal: cartEventsSignal,
      signalArgs: [{ events: [] }],
    }),
  );
  const rate = count / ((performance.now() - started) / 1000);
  const signalled = performance.now();
  await inLanes(count, 16, (i) =>
    client.workflow.getHandle(`bench-reference-${queue}-${i}`).signal(cartEventsSignal, { events: [] }),
  );
  const signalRate = count / ((performance.now() - signalled) / 1000);
  // The reference workflows have no worker; end them so they cost the server nothing during the run.
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      client.workflow
        .getHandle(`bench-reference-${queue}-${i}`)
        .terminate('benchmark reference')
        .catch(() => undefined),
    ),
  );
  await connection.close();
  return { startRate: rate, signalRate };
}

export interface TaskCeiling {
  /** Workflow tasks completed per second: one per start and one per wake-up. */
  tasksPerSecond: number;
  /** The server's CPU milliseconds per task. */
  serverCpuMsPerTask: number;
  /** This process's CPU milliseconds per task: the worker's and the client's that signals. */
  clientAndWorkerCpuMsPerTask: number;
  tasks: number;
}

/**
 * How many workflow tasks per second the server completes for a workflow that does nothing but what
 * every cart event asks of it (bench/ceiling-workflow.ts) — the ceiling the cart path is set against.
 * The worker runs in this process; the server's CPU per task is read from /proc.
 */
export async function measureTaskCeiling(options: {
  address: string;
  /** CPU seconds the server has used so far. */
  serverCpuSeconds: () => number;
  workflows: number;
  signalsEach: number;
}): Promise<TaskCeiling> {
  // The SDK's runtime is one per process and this is the bench's only worker: its logs, errors only.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const taskQueue = `bench-ceiling-${crypto.randomBytes(3).toString('hex')}`;
  const nativeConnection = await NativeConnection.connect({ address: options.address });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowsPath: path.join(__dirname, 'ceiling-workflow.ts'),
    maxCachedWorkflows: options.workflows,
  });
  const connection = await Connection.connect({ address: options.address });
  const client = new Client({ connection, namespace: 'default' });
  const ids = Array.from({ length: options.workflows }, (_, i) => `${taskQueue}-${i}`);
  try {
    return await worker.runUntil(async () => {
      const serverBefore = options.serverCpuSeconds();
      const workerBefore = process.cpuUsage();
      const started = performance.now();
      // 64 requests at a time, enough to keep the server busy: starts first, then the signals round-robin.
      await inLanes(ids.length, 64, (i) =>
        client.workflow.start(CeilingWorkflow, {
          workflowId: ids[i],
          taskQueue,
          args: [options.signalsEach],
        }),
      );
      await inLanes(ids.length * options.signalsEach, 64, (n) =>
        client.workflow.getHandle(ids[n % ids.length]).signal(pokeSignal),
      );
      const wakeups = await Promise.all(
        ids.map((id) => client.workflow.getHandle(id).result() as Promise<number>),
      );
      const seconds = (performance.now() - started) / 1000;
      const tasks = ids.length + wakeups.reduce((sum, n) => sum + n, 0);
      const workerCpu = process.cpuUsage(workerBefore);
      return {
        tasksPerSecond: tasks / seconds,
        serverCpuMsPerTask: ((options.serverCpuSeconds() - serverBefore) * 1000) / tasks,
        clientAndWorkerCpuMsPerTask: (workerCpu.user + workerCpu.system) / 1000 / tasks,
        tasks,
      };
    });
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}
