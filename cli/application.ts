import { Connection } from '@temporalio/client';
import type { Config } from '../lib/config';
import { createPool } from '../lib/db';
import type { Endpoints } from '../lib/endpoints';
import type { Logger } from '../lib/log';
import { createMailer } from '../lib/mailer';
import { migrateDatabase } from '../lib/migrate';
import { connectTemporalClient, ensureSearchAttributes } from '../lib/temporal';
import { buildServer } from '../server/app';
import { startWorkers, type TaskQueueName } from '../workers/workers';

/** One step of shutting down; steps run in the reverse order of starting. */
export interface Stopper {
  name: string;
  stop: () => Promise<unknown>;
}

/**
 * cartflow's own processes over services that already run: migrations, workers and the HTTP server.
 * `cartflow dev` calls it after starting the embedded services; `cartflow worker` and `cartflow server`
 * call it in production with what the environment names.
 */
export async function startApplication(options: {
  config: Config;
  endpoints: Endpoints;
  logger: Logger;
  stoppers: Stopper[];
  /** Task queues to run workers for; none runs no worker. */
  queues: readonly TaskQueueName[];
  serveHttp: boolean;
}): Promise<void> {
  const { config, endpoints, logger: log, stoppers } = options;

  const ranWarehouse = await migrateDatabase(endpoints.warehouseUrl, 'warehouse');
  const ranShop = await migrateDatabase(endpoints.shopUrl, 'shop');
  log.info('Migrations are current', { warehouseApplied: ranWarehouse.length, shopApplied: ranShop.length });

  const connection = await Connection.connect({ address: endpoints.temporalAddress });
  const added = await ensureSearchAttributes(connection, endpoints.temporalNamespace);
  if (added.length > 0) log.info('Registered search attributes', { added });
  await connection.close();

  const warehouse = createPool(endpoints.warehouseUrl, 'cartflow');
  const shop = createPool(endpoints.shopUrl, 'cartflow');
  stoppers.push({ name: 'database pools', stop: () => Promise.all([warehouse.end(), shop.end()]) });
  const mailer = createMailer(endpoints.smtpUrl);
  stoppers.push({ name: 'mailer', stop: async () => mailer.close() });

  if (options.queues.length > 0) {
    const workers = await startWorkers({
      address: endpoints.temporalAddress,
      namespace: endpoints.temporalNamespace,
      deps: { config, warehouse, shop, mailer },
      logger: log.scope({ component: 'worker' }),
      queues: options.queues,
    });
    stoppers.push({ name: 'workers', stop: () => workers.shutdown() });
    workers.done.catch((error: Error) =>
      log.error('A worker stopped with an error', { error: error.message }),
    );
  }

  if (options.serveHttp) {
    const temporalClient = await connectTemporalClient(
      endpoints.temporalAddress,
      endpoints.temporalNamespace,
    );
    stoppers.push({ name: 'Temporal client', stop: () => temporalClient.connection.close() });
    const app = buildServer({
      warehouse,
      shop,
      temporal: temporalClient,
      smtpUrl: endpoints.smtpUrl,
      mailDir: endpoints.mailDir,
      carts: endpoints.ingestToken
        ? { config, ingestToken: endpoints.ingestToken, logger: log.scope({ component: 'server' }) }
        : undefined,
      recommendations: endpoints.ingestToken ? { ingestToken: endpoints.ingestToken } : undefined,
    });
    await app.listen({ port: config.httpPort, host: '0.0.0.0' });
    stoppers.push({ name: 'HTTP server', stop: () => app.close() });
  }
}

/** Runs the stoppers once, newest first, on SIGINT or SIGTERM or when called; then `after`. */
export function stopOnSignals(
  stoppers: Stopper[],
  log: Logger,
  after: () => void = () => undefined,
): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const { name, stop } of [...stoppers].reverse()) {
        try {
          await stop();
        } catch (error) {
          log.error(`Stopping ${name} failed`, { error: (error as Error).message });
        }
      }
      after();
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log.info(`${signal}: stopping`);
      void stopAll().then(() => process.exit(0));
    });
  }
  return stopAll;
}
