/**
 * `npm run test:production [-- jest arguments]`: cartflow against a production Temporal cluster, not the
 * dev server. It brings up Temporal Server — the version docker-compose.yml deploys, built from its Go
 * modules into CARTFLOW_HOME/tools on first use — with SQL persistence on a PostgreSQL of its own (the
 * major docker-compose.yml runs it on), its schema made by temporal-sql-tool and its settings those of
 * deploy/temporal/server.env, as docker-compose.yml's temporal services have them; creates the
 * namespace and cartflow's search attributes; runs the daily pipeline, import and cart fault tests
 * against it; and stops everything it started.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../lib/config';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../lib/embedded/postgres';
import { findFreePort } from '../lib/embedded/ports';
import { resolveTemporalCli } from '../lib/embedded/temporal';
import {
  CLUSTER_TOOLS_VARIABLE,
  composeVersions,
  obtainTemporalServer,
  startTemporalCluster,
  TemporalClusterError,
  type TemporalCluster,
  type TemporalClusterTools,
} from './temporal-cluster';
import { obtainPostgresRelease } from './test-postgres';
import { ensurePrerequisitesHere } from './test-prerequisites';

const root = path.resolve(__dirname, '..');

/**
 * The test files run against the cluster: the daily pipeline, an import through the CLI, the carts'
 * faults (worker killed mid-send, SMTP and database outages), a worker process killed with SIGKILL
 * in the middle of a load and started again, and `cartflow server` with two `cartflow worker`
 * processes on the same queues, one of them SIGKILLed during a seven-day backfill, and a cluster of
 * the test's own stopped and started again with carts waiting for their timers.
 */
export const PRODUCTION_TESTS = [
  'test/integration/daily-pipeline-run.test.ts',
  'test/integration/import-cli.test.ts',
  'test/integration/cart-faults.test.ts',
  'test/integration/pipeline-worker-kill.test.ts',
  'test/integration/backfill-two-workers-kill.test.ts',
  'test/integration/cart-temporal-restart.test.ts',
];

async function main(): Promise<number> {
  const started = Date.now();
  const jestArgs = process.argv.slice(2);
  const config = loadConfig();
  const toolsDir = path.join(config.home, 'tools');
  const versions = composeVersions(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'));

  const prerequisites = ensurePrerequisitesHere();
  if (prerequisites !== 0) return prerequisites;

  const binaries = obtainTemporalServer(versions.temporal, toolsDir);
  const postgresBin = obtainPostgresRelease(versions.postgresMajor, toolsDir, (line) => console.error(line));
  const cli = resolveTemporalCli({ cliPath: config.temporal.cliPath, toolsDir });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-production-'));
  fs.chmodSync(dir, 0o755);
  let postgres: EmbeddedPostgresHandle | undefined;
  let cluster: TemporalCluster | undefined;
  let passed = false;
  try {
    postgres = await startEmbeddedPostgres({
      dir: path.join(dir, 'postgres'),
      port: await findFreePort(),
      databases: [],
      logFile: path.join(dir, 'postgres.log'),
      binDir: postgresBin,
    });
    const tools: TemporalClusterTools = { ...binaries, cli, postgresUrl: postgres.url('postgres') };
    console.error(`Temporal Server ${versions.temporal}: schema on PostgreSQL ${versions.postgresMajor}`);
    cluster = await startTemporalCluster({ tools, dir, databasePrefix: 'temporal' });
    console.error(
      `Temporal Server ${versions.temporal} serves ${cluster.address} after ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );

    const args = jestArgs.length > 0 ? jestArgs : PRODUCTION_TESTS;
    const jest = spawnSync(path.join(root, 'node_modules', '.bin', 'jest'), args, {
      stdio: 'inherit',
      env: {
        ...process.env,
        CARTFLOW_TEST_TEMPORAL_ADDRESS: cluster.address,
        TEMPORAL_CLI_PATH: cli,
        [CLUSTER_TOOLS_VARIABLE]: JSON.stringify(tools),
      },
    });
    console.error(`npm run test:production took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    passed = jest.status === 0;
    return jest.status ?? 1;
  } finally {
    await cluster?.stop();
    await postgres?.stop();
    if (passed) fs.rmSync(dir, { recursive: true, force: true });
    else console.error(`The server's and its Postgres's logs are kept in ${dir}`);
  }
}

if (require.main === module) {
  main().then(
    (code) => (process.exitCode = code),
    (error: Error) => {
      console.error(error instanceof TemporalClusterError ? error.message : error);
      process.exitCode = 1;
    },
  );
}
