import knex, { type Knex } from 'knex';
import { shopMigrations } from '../migrations/shop';
import { warehouseMigrations } from '../migrations/warehouse';
import { redactUrl } from './db';
import { assertSupportedPostgres, POSTGRES_VERSION_SQL, type PostgresVersion } from './postgres-version';

export interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * Migrations are listed in code rather than discovered on disk, so the same list runs under tsx,
 * jest and a bundled build alike.
 */
function listedSource(migrations: Record<string, MigrationModule>): Knex.MigrationSource<string> {
  return {
    getMigrations: async () => Object.keys(migrations).sort(),
    getMigrationName: (name) => name,
    getMigration: async (name) => migrations[name],
  };
}

export const MIGRATIONS = { warehouse: warehouseMigrations, shop: shopMigrations } as const;

/**
 * Brings a database up to date; returns the names of the migrations it ran (none when already current).
 * A server older than cartflow supports is refused first, naming its version and the one needed.
 */
export async function migrateDatabase(url: string, which: keyof typeof MIGRATIONS): Promise<string[]> {
  const db = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    const { rows } = (await db.raw(POSTGRES_VERSION_SQL)) as { rows: PostgresVersion[] };
    assertSupportedPostgres(rows[0], `The ${which} database ${redactUrl(url)}`);
    const [, ran] = (await db.migrate.latest({ migrationSource: listedSource(MIGRATIONS[which]) })) as [
      number,
      string[],
    ];
    return ran;
  } finally {
    await db.destroy();
  }
}
