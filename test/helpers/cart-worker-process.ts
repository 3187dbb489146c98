/**
 * A carts worker in a process of its own, for tests that SIGKILL it: `node --import tsx
 * test/helpers/cart-worker-process.ts` with CARTFLOW_TEST_CART_WORKER set to JSON {temporalAddress,
 * taskQueue, warehouseUrl, shopUrl, smtpUrl, env}. It prints "worker ready" once it polls.
 */
import { createPool } from '../../lib/db';
import { createLogger } from '../../lib/log';
import { createMailer } from '../../lib/mailer';
import { startWorkers } from '../../workers/workers';
import { testConfig } from './config';

async function main(): Promise<void> {
  const options = JSON.parse(process.env.CARTFLOW_TEST_CART_WORKER ?? '{}') as {
    temporalAddress: string;
    taskQueue: string;
    warehouseUrl: string;
    shopUrl: string;
    smtpUrl: string;
    env: Record<string, string>;
  };
  const warehouse = createPool(options.warehouseUrl, 'test-cart-worker');
  const shop = createPool(options.shopUrl, 'test-cart-worker');
  const mailer = createMailer(options.smtpUrl);
  const workers = await startWorkers({
    address: options.temporalAddress,
    namespace: 'default',
    deps: { config: testConfig(options.env), warehouse, shop, mailer },
    logger: createLogger('warn'),
    queues: ['carts'],
    taskQueues: { carts: options.taskQueue },
  });
  process.stdout.write('worker ready\n');
  process.once('SIGTERM', () => void workers.shutdown());
  await workers.done;
  mailer.close();
  await Promise.all([warehouse.end(), shop.end()]);
}

main().catch((error: unknown) => {
  process.stderr.write(`cart worker process: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
