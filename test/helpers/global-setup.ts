import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../lib/embedded/postgres';
import { findFreePort } from '../../lib/embedded/ports';
import { resolveTemporalCli, startScratchTemporal } from '../../lib/embedded/temporal';
import { migrateDatabase } from '../../lib/migrate';
import { majorOf, POSTGRES_VERSION_SQL, type PostgresVersion } from '../../lib/postgres-version';
import { TEMPLATES, type TestServices } from './services';

/**
 * Starts one real Postgres and one real Temporal dev server for the whole run, and migrates the
 * template databases that every test file clones.
 */
export default async function globalSetup(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-test-'));
  fs.chmodSync(home, 0o755);

  // The version matrix (scripts/test-postgres.ts) hands over another major's binaries.
  const matrix = {
    bin: process.env.CARTFLOW_TEST_POSTGRES_BIN || undefined,
    major: process.env.CARTFLOW_TEST_POSTGRES_MAJOR || undefined,
  };
  const postgres = await startEmbeddedPostgres({
    dir: path.join(home, 'postgres'),
    port: await findFreePort(),
    databases: Object.values(TEMPLATES),
    logFile: path.join(home, 'postgres.log'),
    binDir: matrix.bin,
  });
  const version = await serverVersion(postgres.url('postgres'));
  if (matrix.major && String(majorOf(version.num)) !== matrix.major) {
    await postgres.stop();
    throw new Error(
      `CARTFLOW_TEST_POSTGRES_MAJOR is ${matrix.major}, but ${matrix.bin ?? 'the installed package'} runs PostgreSQL ${version.text}.`,
    );
  }
  await migrateDatabase(postgres.url(TEMPLATES.warehouse), 'warehouse');
  await migrateDatabase(postgres.url(TEMPLATES.shop), 'shop');

  // npm run test:production (scripts/test-production.ts) runs the tests against a Temporal Server cluster
  // it started, named here; otherwise the run has a dev server of its own.
  const external = process.env.CARTFLOW_TEST_TEMPORAL_ADDRESS || undefined;
  const temporal = external
    ? {
        address: external,
        pid: undefined,
        cli: resolveTemporalCli({
          cliPath: process.env.TEMPORAL_CLI_PATH,
          toolsDir: path.resolve(__dirname, '../../.cartflow/tools'),
        }),
        stop: async () => undefined,
      }
    : await startScratchTemporal(home);

  const services: TestServices = {
    home,
    postgresAdminUrl: postgres.url('postgres'),
    postgresUrlTemplate: postgres.url('{database}'),
    temporalAddress: temporal.address,
    temporalCli: temporal.cli,
  };
  process.env.CARTFLOW_TEST_SERVICES = JSON.stringify(services);
  (globalThis as Record<string, unknown>).__cartflowTestServices = { postgres, temporal, home };
  process.stderr.write(
    `\ncartflow tests: PostgreSQL ${version.text} on port ${postgres.port} (pid ${postgres.pid}), ${external ? `the Temporal cluster at ${external}` : `Temporal dev server at ${temporal.address} (pid ${temporal.pid})`}\n`,
  );
}

async function serverVersion(url: string): Promise<PostgresVersion> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<PostgresVersion>(POSTGRES_VERSION_SQL)).rows[0];
  } finally {
    await client.end();
  }
}
