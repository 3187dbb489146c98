/**
 * A cartflow worker in a process of its own, for tests that kill it: `node --import tsx
 * test/helpers/worker-process.ts` with CARTFLOW_TEST_WORKER set to JSON {temporalAddress, taskQueue,
 * warehouseUrl, shopUrl, logLevel?}. It prints "worker ready" once it polls its task queue; it logs at
 * `logLevel` (default warn) as JSON lines on stderr, the SDK's and the activities' logs among them.
 */
import type { LogLevel } from '../../lib/config';
import { createPool } from '../../lib/db';
import { createLogger } from '../../lib/log';
import { createMailer } from '../../lib/mailer';
import { startWorkers } from '../../workers/workers';
import { testConfig } from './config';

async function main(): Promise<void> {
  const options = JSON.parse(process.env.CARTFLOW_TEST_WORKER ?? '{}') as {
    temporalAddress: string;
    taskQueue: string;
    warehouseUrl: string;
    shopUrl: string;
    logLevel?: LogLevel;
  };
  const logLevel = options.logLevel ?? 'warn';
  const warehouse = createPool(options.warehouseUrl, 'test-worker-process');
  const shop = createPool(options.shopUrl, 'test-worker-process');
  const workers = await startWorkers({
    address: options.temporalAddress,
    namespace: 'default',
    deps: {
      config: testConfig({ CARTFLOW_LOG_LEVEL: logLevel }),
      warehouse,
      shop,
      mailer: createMailer('smtp://127.0.0.1:1'),
    },
    logger: createLogger(logLevel),
    queues: ['etl'],
    taskQueues: { etl: options.taskQueue },
  });
  process.stdout.write('worker ready\n');
  process.once('SIGTERM', () => void workers.shutdown());
  await workers.done;
  await Promise.all([warehouse.end(), shop.end()]);
}

main().catch((error: unknown) => {
  process.stderr.write(`worker process: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
