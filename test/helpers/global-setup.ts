import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../lib/embedded/postgres';
import { findFreePort } from '../../lib/embedded/ports';
import { startScratchTemporal } from '../../lib/embedded/temporal';
import { migrateDatabase } from '../../lib/migrate';
import { TEMPLATES, type TestServices } from './services';

/**
 * Starts one real Postgres and one real Temporal dev server for the whole run, and migrates the
 * template databases that every test file clones.
 */
export default async function globalSetup(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-test-'));
  fs.chmodSync(home, 0o755);

  const postgres = await startEmbeddedPostgres({
    dir: path.join(home, 'postgres'),
    port: await findFreePort(),
    databases: Object.values(TEMPLATES),
    logFile: path.join(home, 'postgres.log'),
  });
  await migrateDatabase(postgres.url(TEMPLATES.warehouse), 'warehouse');
  await migrateDatabase(postgres.url(TEMPLATES.shop), 'shop');

  const temporal = await startScratchTemporal(home);

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
    `\ncartflow tests: Postgres on port ${postgres.port} (pid ${postgres.pid}), Temporal dev server at ${temporal.address} (pid ${temporal.pid})\n`,
  );
}
