/**
 * How many workflow tasks per second the Temporal server in use completes on this machine for a
 * workflow that does nothing but what every cart event asks of it (bench/ceiling-workflow.ts) — the
 * ceiling the cart path is set against. The worker runs in this process; the server's CPU per task is
 * read from /proc.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { CeilingWorkflow, pokeSignal } from './ceiling-workflow';

export interface TaskCeiling {
  /** Workflow tasks completed per second: one per start and one per wake-up. */
  tasksPerSecond: number;
  /** The server's CPU milliseconds per task. */
  serverCpuMsPerTask: number;
  /** This process's CPU milliseconds per task: the worker's and the client's that signals. */
  clientAndWorkerCpuMsPerTask: number;
  tasks: number;
}

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
      const inLanes = async (count: number, send: (i: number) => Promise<unknown>) => {
        let next = 0;
        const lane = async () => {
          while (next < count) await send(next++);
        };
        await Promise.all(Array.from({ length: 64 }, lane));
      };
      await inLanes(ids.length, (i) =>
        client.workflow.start(CeilingWorkflow, {
          workflowId: ids[i],
          taskQueue,
          args: [options.signalsEach],
        }),
      );
      await inLanes(ids.length * options.signalsEach, (n) =>
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
