import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Config } from '../lib/config';
import { createPool } from '../lib/db';
import { resolveEndpoints, type Endpoints } from '../lib/endpoints';
import type { Logger } from '../lib/log';
import { connectTemporalClient } from '../lib/temporal';

/**
 * What a command needs, opened lazily on first use and closed once at the end: a command that only
 * reads the shop database never connects to Temporal.
 */
export interface CliContext {
  readonly config: Config;
  readonly logger: Logger;
  endpoints(): Endpoints;
  warehouse(): pg.Pool;
  shop(): pg.Pool;
  temporal(): Promise<Client>;
  close(): Promise<void>;
}

export function createCliContext(config: Config, logger: Logger): CliContext {
  let endpoints: Endpoints | undefined;
  let warehouse: pg.Pool | undefined;
  let shop: pg.Pool | undefined;
  let temporal: Promise<Client> | undefined;
  const context: CliContext = {
    config,
    logger,
    endpoints: () => (endpoints ??= resolveEndpoints(config)),
    warehouse: () => (warehouse ??= createPool(context.endpoints().warehouseUrl, 'cartflow-cli')),
    shop: () => (shop ??= createPool(context.endpoints().shopUrl, 'cartflow-cli')),
    temporal: () =>
      (temporal ??= connectTemporalClient(
        context.endpoints().temporalAddress,
        context.endpoints().temporalNamespace,
      )),
    close: async () => {
      await Promise.all([
        warehouse?.end(),
        shop?.end(),
        temporal?.then((client) => client.connection.close()),
      ]);
    },
  };
  return context;
}
