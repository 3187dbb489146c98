import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/log';
import { TASK_QUEUES } from '../contracts/names';
import { resolveUnsubscribeSecret } from '../lib/unsubscribe';
import { cartSettingsFrom, createCartForwarder, startEventRelay, type EventRelay } from './cart-forwarder';
import { registerCartPageRoutes } from './cart-page';
import { registerEventRoutes } from './events';
import { registerUnsubscribeRoutes } from './unsubscribe';

export interface CartServerDeps {
  config: Config;
  /** The storefront's bearer token for POST /v1/events. */
  ingestToken: string;
  logger: Logger;
  /** The carts task queue; tests pass their own. */
  taskQueue?: string;
  /** How often the outbox relay looks for undelivered events; 0 runs no relay. */
  relayIntervalMs?: number;
}

/**
 * Everything the abandoned-cart feature serves: the events API, unsubscribe links, the cart page, and
 * the outbox relay, which runs while the server does.
 */
export async function registerCartRoutes(
  app: FastifyInstance,
  deps: CartServerDeps & { warehouse: pg.Pool; shop: pg.Pool; temporal: Client },
): Promise<void> {
  const logger = deps.logger.scope({ component: 'carts-api' });
  const forwarder = createCartForwarder({
    client: deps.temporal,
    warehouse: deps.warehouse,
    taskQueue: deps.taskQueue ?? TASK_QUEUES.carts,
    settings: cartSettingsFrom(deps.config),
    logger,
  });
  await registerEventRoutes(app, {
    ingestToken: deps.ingestToken,
    warehouse: deps.warehouse,
    forwarder,
    logger,
  });
  await registerUnsubscribeRoutes(app, {
    warehouse: deps.warehouse,
    shop: deps.shop,
    unsubscribeSecret: resolveUnsubscribeSecret(deps.config),
    logger,
  });
  await registerCartPageRoutes(app, { temporal: deps.temporal });

  const intervalMs = deps.relayIntervalMs ?? 1000;
  if (intervalMs > 0) {
    let relay: EventRelay | undefined;
    app.addHook('onReady', async () => {
      relay = startEventRelay({ warehouse: deps.warehouse, forwarder, logger, intervalMs });
    });
    app.addHook('onClose', async () => relay?.stop());
  }
}
