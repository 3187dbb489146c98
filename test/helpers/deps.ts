import type pg from 'pg';
import type { ActivityDeps } from '../../activities';
import { createPool } from '../../lib/db';
import { createMailer } from '../../lib/mailer';
import { testConfig } from './config';
import type { TestDatabases } from './services';

export interface TestDeps extends ActivityDeps {
  /** Closes the pools and the mailer. */
  close(): Promise<void>;
}

/**
 * The activities' dependencies over a test file's own databases. Mail goes to `smtpUrl` (start a real
 * sink with `startSmtpSink` when a test reads it); overrides replace any part.
 */
export function createTestDeps(
  databases: TestDatabases,
  options: { smtpUrl?: string; env?: Record<string, string> } = {},
): TestDeps {
  const warehouse: pg.Pool = createPool(databases.warehouseUrl, 'test');
  const shop: pg.Pool = createPool(databases.shopUrl, 'test');
  const mailer = createMailer(options.smtpUrl ?? 'smtp://127.0.0.1:1');
  return {
    config: testConfig(options.env),
    warehouse,
    shop,
    mailer,
    close: async () => {
      mailer.close();
      await Promise.all([warehouse.end(), shop.end()]);
    },
  };
}
