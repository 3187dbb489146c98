import crypto from 'node:crypto';
import pg from 'pg';

/** Migrated databases each test file clones, so files run in parallel and start fast. */
export const TEMPLATES = { warehouse: 'warehouse_template', shop: 'shop_template' } as const;

/** What the global setup started, handed to test files through the environment. */
export interface TestServices {
  home: string;
  postgresAdminUrl: string;
  /** A Postgres URL with `{database}` in place of the database name. */
  postgresUrlTemplate: string;
  temporalAddress: string;
  temporalCli: string;
}

export function testServices(): TestServices {
  const text = process.env.CARTFLOW_TEST_SERVICES;
  if (!text)
    throw new Error('The test services are not running: run the tests with `npm test`, which starts them.');
  return JSON.parse(text) as TestServices;
}

export interface TestDatabases {
  warehouseUrl: string;
  shopUrl: string;
  /** Drops both databases. */
  drop(): Promise<void>;
}

/** Fresh, migrated `warehouse` and `shop` databases for one test file. */
export async function createTestDatabases(label = 'test'): Promise<TestDatabases> {
  const services = testServices();
  const suffix = `${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${crypto.randomBytes(4).toString('hex')}`;
  const names = { warehouse: `warehouse_${suffix}`, shop: `shop_${suffix}` };
  const admin = new pg.Client({ connectionString: services.postgresAdminUrl });
  await admin.connect();
  try {
    for (const which of ['warehouse', 'shop'] as const) {
      await cloneWithRetry(admin, names[which], TEMPLATES[which]);
    }
  } finally {
    await admin.end();
  }
  const url = (database: string) => services.postgresUrlTemplate.replace('{database}', database);
  return {
    warehouseUrl: url(names.warehouse),
    shopUrl: url(names.shop),
    drop: async () => {
      const client = new pg.Client({ connectionString: services.postgresAdminUrl });
      await client.connect();
      try {
        for (const name of Object.values(names))
          await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Two files cloning the same template at the same moment can collide; the second waits and retries. */
async function cloneWithRetry(admin: pg.Client, name: string, template: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.query(`create database "${name}" template "${template}"`);
      return;
    } catch (error) {
      if (attempt >= 20 || !/being accessed by other users/.test((error as Error).message)) throw error;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}
