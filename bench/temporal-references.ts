/**
 * bench:carts' references, measured against the Temporal server in use on this machine: its rates of
 * signal-with-start and signals, its ceiling of workflow tasks per second, and what a cart's events
 * cost it when they arrive during a start delay instead of each waking the workflow.
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

let runtimeInstalled = false;
/** The SDK's runtime is one per process, for the bench's own workers: their logs, errors only. */
function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
}

/**
 * Runs `measure` with a worker of the ceiling's workflow (bench/ceiling-workflow.ts) in this process,
 * on a task queue of its own, and a client; closes both after.
 */
async function withCeilingWorker<T>(
  address: string,
  name: string,
  workflows: number,
  measure: (client: Client, taskQueue: string) => Promise<T>,
): Promise<T> {
  installRuntime();
  const taskQueue = `bench-${name}-${crypto.randomBytes(3).toString('hex')}`;
  const nativeConnection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowsPath: path.join(__dirname, 'ceiling-workflow.ts'),
    maxCachedWorkflows: workflows,
  });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  try {
    return await worker.runUntil(() => measure(client, taskQueue));
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
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
  return withCeilingWorker(options.address, 'ceiling', options.workflows, async (client, taskQueue) => {
    const ids = Array.from({ length: options.workflows }, (_, i) => `${taskQueue}-${i}`);
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
}

export interface StartDelayReference {
  /** Server CPU milliseconds per workflow, and workflow tasks per workflow, when every signal wakes it. */
  eachSignal: { serverCpuMs: number; tasks: number };
  /** The same, when the workflow is started with a delay and its signals arrive before the delay ends. */
  delayed: { serverCpuMs: number; tasks: number };
}

/**
 * What a cart's event batches cost the Temporal server when each wakes the workflow (a workflow task
 * per batch, as carts are today), against the same batches sent while the workflow's first task waits
 * out a start delay: a signal-with-start with `startDelay` schedules no task, a plain signal during the
 * delay schedules none either, and the first task, when the delay ends, gets them all. The workflow is
 * the ceiling's (bench/ceiling-workflow.ts): it ends after `signalsEach` signals.
 */
export async function measureStartDelayReference(options: {
  address: string;
  serverCpuSeconds: () => number;
  workflows: number;
  signalsEach: number;
  /** Long enough for the workflows to take a round of signals before the next. */
  roundGapMs: number;
}): Promise<StartDelayReference> {
  return withCeilingWorker(options.address, 'delay', options.workflows, async (client, taskQueue) => {
    // What the server uses doing nothing (its own timers, the worker's long polls), taken off both
    // patterns for as long as each took: the delayed one mostly waits.
    let idleCpuPerMs = 0;
    const play = async (name: string, startDelayMs: number | undefined) => {
      const ids = Array.from({ length: options.workflows }, (_, i) => `${taskQueue}-${name}-${i}`);
      const before = options.serverCpuSeconds();
      const runs = new Map<string, string>();
      const started = performance.now();
      await inLanes(ids.length, 64, async (i) => {
        const handle = await client.workflow.signalWithStart(CeilingWorkflow, {
          workflowId: ids[i],
          taskQueue,
          args: [options.signalsEach],
          signal: pokeSignal,
          ...(startDelayMs === undefined ? {} : { startDelay: startDelayMs }),
        });
        runs.set(ids[i], handle.signaledRunId);
      });
      // The rest of each workflow's signals to its run, as the API signals a cart it knows, in rounds:
      // without a delay each round after the workflows have had the time to take the one before (as a
      // shopper's requests come seconds apart), so that each signal is a task of its own.
      for (let round = 1; round < options.signalsEach; round++) {
        if (startDelayMs === undefined)
          await new Promise((resolve) => setTimeout(resolve, options.roundGapMs));
        await inLanes(ids.length, 64, (i) =>
          client.workflow.getHandle(ids[i], runs.get(ids[i])).signal(pokeSignal),
        );
      }
      if (startDelayMs !== undefined && performance.now() - started > startDelayMs)
        throw new Error(
          `The signals took longer than the start delay of ${startDelayMs} ms; the reference needs a longer one`,
        );
      const wakeups = await Promise.all(
        ids.map((id) => client.workflow.getHandle(id).result() as Promise<number>),
      );
      const cpuMs =
        (options.serverCpuSeconds() - before) * 1000 - idleCpuPerMs * (performance.now() - started);
      return {
        serverCpuMs: cpuMs / ids.length,
        // One task per wake-up (the first task is one too).
        tasks: wakeups.reduce((sum, n) => sum + n, 0) / ids.length,
      };
    };
    const idleFrom = [options.serverCpuSeconds(), performance.now()];
    await new Promise((resolve) => setTimeout(resolve, 5000));
    idleCpuPerMs = ((options.serverCpuSeconds() - idleFrom[0]) * 1000) / (performance.now() - idleFrom[1]);
    const eachSignal = await play('each', undefined);
    const delayed = await play('delayed', 5_000);
    return { eachSignal, delayed };
  });
}
