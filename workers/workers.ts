import {
  bundleWorkflowCode,
  NativeConnection,
  Runtime,
  Worker,
  makeTelemetryFilterString,
  DefaultLogger,
  type LogLevel as SdkLogLevel,
  type WorkerOptions,
} from '@temporalio/worker';
import path from 'node:path';
import { createQueueActivities, type ActivityDeps } from '../activities';
import type { LogLevel } from '../lib/config';
import type { Logger } from '../lib/log';
import { TASK_QUEUES } from '../contracts/names';

export type TaskQueueName = keyof typeof TASK_QUEUES;
export const ALL_TASK_QUEUES = Object.keys(TASK_QUEUES) as TaskQueueName[];

export interface RunningWorkers {
  /** Resolves when every worker has stopped. */
  readonly done: Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Carts are many, long-lived and small. Keep every live one in memory (the SDK's default follows the
 * heap, about 2,400 carts on a 4 GB heap, and a cart outside it is replayed from its history for each
 * event). Every new cart's first task comes from the shared task queue rather than this worker's
 * sticky one: give the shared queue half of the workflow-task pollers (the default gives it 2 of 10).
 * The SDK (1.13) polls with 10 pollers whatever `maxConcurrentWorkflowTaskPolls` says; 40
 * (`workflowTaskPollerBehavior`) made each task slower on the dev server without taking more of them
 * (docs/carts.md, Performance).
 *
 * The workflow-task slots: the SDK's default count, handed out by a supplier without a fixed size. The
 * SDK's core (1.13, `wft_poller.rs`) balances a worker's sticky and shared pollers only when its slot
 * supplier reports a fixed number of slots, and that balance leaves the shared queue one poller
 * whenever the sticky queue reports a backlog: under load every new cart's first task waited minutes
 * behind the open carts' work. A resource-based supplier whose minimum is its maximum issues the same
 * 40 slots without ever measuring a resource (below the minimum it always issues, at it the maximum
 * stops it first) and reports no fixed size, so both queues keep their 5 pollers.
 */
export const CART_WORKFLOW_TASK_SLOTS = 40;

export const CART_WORKER_OPTIONS = (cacheSize: number) =>
  ({
    maxCachedWorkflows: cacheSize,
    nonStickyToStickyPollRatio: 0.5,
    tuner: {
      workflowTaskSlotSupplier: {
        type: 'resource-based',
        minimumSlots: CART_WORKFLOW_TASK_SLOTS,
        maximumSlots: CART_WORKFLOW_TASK_SLOTS,
        // Never consulted: the minimum is the maximum.
        tunerOptions: { targetMemoryUsage: 0.9, targetCpuUsage: 0.9 },
      },
      // A tuner replaces every slot count: the SDK's defaults for the others.
      activityTaskSlotSupplier: { type: 'fixed-size', numSlots: 100 },
      localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 100 },
      nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 100 },
    },
  }) satisfies Partial<WorkerOptions>;

/**
 * A model fit is CPU-bound and runs in the worker's one JavaScript thread (TensorFlow.js included), so
 * fits started together only take turns, each looking as slow as all of them. The ml worker runs one
 * fit at a time: each fit's recorded time is its own, and fits run in parallel across ml worker
 * processes (`cartflow worker --queue ml`, one per core).
 */
const ML_WORKER_OPTIONS = { maxConcurrentActivityTaskExecutions: 1 };

let runtimeInstalled = false;

/** The SDK's level for each of cartflow's: the SDK drops what is below it before it reaches the sink. */
const SDK_LEVEL: Record<LogLevel, SdkLogLevel> = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
};

/** Each SDK level's method of cartflow's logger (the SDK's TRACE is cartflow's debug). */
const SINK: Record<SdkLogLevel, LogLevel> = {
  TRACE: 'debug',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The SDK's logger — its own messages, and what activities and workflows log with `log` (with their
 * workflow and activity ids as fields) — writing into cartflow's JSON logger at `level`
 * (CARTFLOW_LOG_LEVEL), each entry at its own level.
 */
export function sdkLogger(logger: Logger, level: LogLevel): DefaultLogger {
  return new DefaultLogger(SDK_LEVEL[level], (entry) =>
    logger[SINK[entry.level]](entry.message, { ...entry.meta, sdk: true }),
  );
}

/**
 * Routes the SDK's own logs into the platform's JSON logger, and serves its metrics for Prometheus when
 * a port is given — once per process, the SDK's runtime being one per process.
 */
function installRuntime(logger: Logger, level: LogLevel, metricsPort: number | undefined): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: sdkLogger(logger, level),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) },
      ...(metricsPort === undefined
        ? {}
        : { metrics: { prometheus: { bindAddress: `0.0.0.0:${metricsPort}` } } }),
    },
  });
}

/**
 * Starts one worker per task queue on one connection and one workflow bundle. Development runs all
 * queues in one process; production runs one process per queue (`cartflow worker --queue etl`).
 */
export async function startWorkers(options: {
  address: string;
  namespace: string;
  deps: ActivityDeps;
  logger: Logger;
  queues?: readonly TaskQueueName[];
  /** Overrides the task queue names, so tests can use a unique queue each. */
  taskQueues?: Partial<Record<TaskQueueName, string>>;
}): Promise<RunningWorkers> {
  installRuntime(
    options.logger,
    options.deps.config.logLevel,
    options.deps.config.temporal.workerMetricsPort,
  );
  const connection = await NativeConnection.connect({ address: options.address });
  const bundle = (entry: string) =>
    bundleWorkflowCode({
      workflowsPath: path.resolve(__dirname, '../workflows', entry),
      logger: {
        trace() {},
        debug() {},
        info() {},
        warn: (m) => options.logger.warn(m),
        error: (m) => options.logger.error(m),
        log() {},
      },
    });
  // Each worker registers its own queue's activities only. The one exception follows the daily
  // pipeline's routing (workflows/daily-pipeline.ts, modelTaskQueue): on an etl queue of another name
  // than cartflow-etl it runs its model fits on that same queue unless told another, so that queue's
  // worker registers the fits too.
  const queueActivities = createQueueActivities(options.deps);
  const activitiesFor = (queue: TaskQueueName, taskQueue: string) =>
    queue === 'etl' && taskQueue !== TASK_QUEUES.etl
      ? { ...queueActivities.etl(), ...queueActivities.ml() }
      : queueActivities[queue]();
  const queues = options.queues ?? ALL_TASK_QUEUES;
  // The carts queue runs only the cart workflow, from a bundle of its own (workflows/cart-index.ts):
  // each cached cart instantiates its bundle's workflow modules, the pipeline's included otherwise.
  const bundles = new Map<string, ReturnType<typeof bundle>>();
  const bundleFor = (queue: TaskQueueName) => {
    const entry = queue === 'carts' ? 'cart-index.ts' : 'index.ts';
    if (!bundles.has(entry)) bundles.set(entry, bundle(entry));
    return bundles.get(entry)!;
  };
  const workers = await Promise.all(
    queues.map(async (queue) =>
      Worker.create({
        connection,
        namespace: options.namespace,
        taskQueue: options.taskQueues?.[queue] ?? TASK_QUEUES[queue],
        workflowBundle: await bundleFor(queue),
        activities: activitiesFor(queue, options.taskQueues?.[queue] ?? TASK_QUEUES[queue]),
        ...(queue === 'carts' ? CART_WORKER_OPTIONS(options.deps.config.carts.workerCacheSize) : {}),
        ...(queue === 'ml' ? ML_WORKER_OPTIONS : {}),
      }),
    ),
  );
  const done = Promise.all(workers.map((worker) => worker.run())).then(() => connection.close());
  return {
    done,
    shutdown: async () => {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
