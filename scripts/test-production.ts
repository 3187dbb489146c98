/**
 * `npm run test:production [-- jest arguments]`: cartflow against a production Temporal cluster, not the
 * dev server. It brings up Temporal Server — the version docker-compose.yml deploys, built from its Go
 * modules into CARTFLOW_HOME/tools on first use — with SQL persistence on a PostgreSQL of its own (the
 * major docker-compose.yml runs it on), its schema made by temporal-sql-tool and its settings those of
 * deploy/temporal/server.env, as docker-compose.yml's temporal services have them; creates the
 * namespace and cartflow's search attributes; runs the daily pipeline, import and cart fault tests
 * against it; and stops everything it started.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { loadConfig } from '../lib/config';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../lib/embedded/postgres';
import { findFreePort, isPortFree, waitForPort } from '../lib/embedded/ports';
import { logChildTo, terminate } from '../lib/embedded/process';
import { resolveTemporalCli } from '../lib/embedded/temporal';
import { ensureSearchAttributes } from '../lib/temporal';
import { obtainPostgresRelease } from './test-postgres';
import { ensurePrerequisites, SYSTEM_DIRS } from './test-prerequisites';

const root = path.resolve(__dirname, '..');
const DEPLOY = path.join(root, 'deploy', 'temporal');

/**
 * The test files run against the cluster: the daily pipeline, an import through the CLI, the carts'
 * faults (worker killed mid-send, SMTP and database outages), a worker process killed with SIGKILL
 * in the middle of a load and started again, and `cartflow server` with two `cartflow worker`
 * processes on the same queues, one of them SIGKILLed during a seven-day backfill.
 */
export const PRODUCTION_TESTS = [
  'test/integration/daily-pipeline-run.test.ts',
  'test/integration/import-cli.test.ts',
  'test/integration/cart-faults.test.ts',
  'test/integration/pipeline-worker-kill.test.ts',
  'test/integration/backfill-two-workers-kill.test.ts',
];

class ProductionTestError extends Error {}

/** What docker-compose.yml deploys: the Temporal Server image's tag and its Postgres's major version. */
export function composeVersions(composeText: string): { temporal: string; postgresMajor: number } {
  const temporal = /image:\s*temporalio\/server:(\d+\.\d+\.\d+)\s/.exec(composeText)?.[1];
  const block = /\n {2}temporal-postgres:\n(?: {4}.*\n)*/.exec(composeText)?.[0] ?? '';
  const postgres = /image:\s*postgres:(\d+)\s/.exec(block)?.[1];
  if (!temporal || !postgres)
    throw new ProductionTestError(
      'docker-compose.yml names no temporalio/server:<x.y.z> image or no postgres:<major> image for temporal-postgres.',
    );
  const others = [...composeText.matchAll(/image:\s*temporalio\/(server|admin-tools):(\S+)/g)].filter(
    (m) => m[2] !== temporal,
  );
  if (others.length > 0)
    throw new ProductionTestError(
      `docker-compose.yml runs Temporal Server ${temporal} but temporalio/${others[0][1]}:${others[0][2]}; give them one version.`,
    );
  return { temporal, postgresMajor: Number(postgres) };
}

/** KEY=value lines, without comments and blank lines. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const at = trimmed.indexOf('=');
    if (at <= 0) throw new ProductionTestError(`deploy/temporal/server.env: "${trimmed}" is not KEY=value.`);
    env[trimmed.slice(0, at)] = trimmed.slice(at + 1);
  }
  return env;
}

/**
 * temporal-server and temporal-sql-tool of `version`, built with `go build` from the module
 * go.temporal.io/server (the Go module proxy serves it) into `toolsDir` on first use.
 */
function obtainTemporalServer(version: string, toolsDir: string): { server: string; sqlTool: string } {
  const dir = path.join(toolsDir, `temporal-server-${version}`);
  const server = path.join(dir, 'temporal-server');
  const sqlTool = path.join(dir, 'temporal-sql-tool');
  if (fs.existsSync(server) && fs.existsSync(sqlTool)) return { server, sqlTool };
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0)
    throw new ProductionTestError(
      `Building Temporal Server ${version} needs Go (go was not found: ${go.error?.message ?? go.stderr}); or put temporal-server and temporal-sql-tool in ${dir}.`,
    );
  const started = Date.now();
  console.error(
    `Building Temporal Server ${version} from go.temporal.io/server with ${go.stdout.trim()} into ${dir}`,
  );
  const download = spawnSync('go', ['mod', 'download', '-json', `go.temporal.io/server@v${version}`], {
    encoding: 'utf8',
  });
  if (download.status !== 0)
    throw new ProductionTestError(
      `go mod download go.temporal.io/server@v${version} failed: ${download.stdout}${download.stderr}`,
    );
  const moduleDir = (JSON.parse(download.stdout) as { Dir: string }).Dir;
  const partial = `${dir}.partial`;
  fs.mkdirSync(partial, { recursive: true });
  for (const [output, pkg] of [
    ['temporal-server', './cmd/server'],
    ['temporal-sql-tool', './cmd/tools/sql'],
  ]) {
    const build = spawnSync('go', ['build', '-o', path.join(partial, output), pkg], {
      cwd: moduleDir,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, CGO_ENABLED: '0' },
    });
    if (build.status !== 0)
      throw new ProductionTestError(`go build ${pkg} of Temporal Server ${version} failed.`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(partial, dir);
  console.error(`Built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { server, sqlTool };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, what: string): void {
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new ProductionTestError(`${what} failed (exit ${result.status}).`);
}

function runAsync(command: string, args: string[], env: NodeJS.ProcessEnv, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new ProductionTestError(`${what} failed (exit ${code}).`)),
    );
  });
}

/** A free port in 20000–32767, not in `taken` (which it joins). */
async function freePortBelow32768(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_768);
    if (!taken.has(candidate) && (await isPortFree(candidate))) {
      taken.add(candidate);
      return candidate;
    }
  }
  throw new ProductionTestError('No free port in 20000–32767 for Temporal Server.');
}

async function main(): Promise<number> {
  const started = Date.now();
  const jestArgs = process.argv.slice(2);
  const config = loadConfig();
  const toolsDir = path.join(config.home, 'tools');
  const versions = composeVersions(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'));
  const serverEnv = parseEnvFile(fs.readFileSync(path.join(DEPLOY, 'server.env'), 'utf8'));

  const prerequisites = ensurePrerequisites(
    { path: process.env.PATH ?? '', systemDirs: SYSTEM_DIRS, uid: process.getuid?.() ?? -1 },
    (command) =>
      spawnSync(command[0], command.slice(1), {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      }).status ?? 1,
    (line) => console.error(line),
  );
  if (prerequisites !== 0) return prerequisites;

  const binaries = obtainTemporalServer(versions.temporal, toolsDir);
  const postgresBin = obtainPostgresRelease(versions.postgresMajor, toolsDir, (line) => console.error(line));
  const cli = resolveTemporalCli({ cliPath: config.temporal.cliPath, toolsDir });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-production-'));
  fs.chmodSync(dir, 0o755);
  let postgres: EmbeddedPostgresHandle | undefined;
  let serverPid: number | undefined;
  let passed = false;
  try {
    postgres = await startEmbeddedPostgres({
      dir: path.join(dir, 'postgres'),
      port: await findFreePort(),
      databases: [],
      logFile: path.join(dir, 'postgres.log'),
      binDir: postgresBin,
    });
    const admin = new URL(postgres.url('postgres'));
    // Temporal keeps each service's ports in a smallint column of its cluster membership table, so
    // they must be below 32768: the system's ephemeral ports (findFreePort) are above.
    const taken = new Set<number>();
    const port = () => freePortBelow32768(taken);
    const ports = {
      FRONTEND_GRPC_PORT: await port(),
      FRONTEND_HTTP_PORT: await port(),
      FRONTEND_MEMBERSHIP_PORT: await port(),
      HISTORY_GRPC_PORT: await port(),
      HISTORY_MEMBERSHIP_PORT: await port(),
      MATCHING_GRPC_PORT: await port(),
      MATCHING_MEMBERSHIP_PORT: await port(),
      WORKER_GRPC_PORT: await port(),
      WORKER_MEMBERSHIP_PORT: await port(),
    };
    const address = `127.0.0.1:${ports.FRONTEND_GRPC_PORT}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...serverEnv,
      // What docker-compose.yml sets per host: where its Postgres is, and the addresses to bind.
      POSTGRES_SEEDS: admin.hostname,
      DB_PORT: admin.port,
      POSTGRES_PORT: admin.port,
      POSTGRES_USER: decodeURIComponent(admin.username),
      POSTGRES_PWD: decodeURIComponent(admin.password),
      BIND_ON_IP: '127.0.0.1',
      TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
      DYNAMIC_CONFIG_FILE_PATH: path.join(DEPLOY, 'dynamicconfig.yaml'),
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      TEMPORAL_SQL_TOOL: binaries.sqlTool,
      TEMPORAL_CLI: cli,
      TEMPORAL_ADDRESS: address,
    };

    console.error(
      `Temporal Server ${versions.temporal}: schema on PostgreSQL ${versions.postgresMajor} (port ${admin.port})`,
    );
    run('sh', [path.join(DEPLOY, 'setup-schema.sh')], env, 'deploy/temporal/setup-schema.sh');

    const logFile = path.join(dir, 'temporal-server.log');
    const child = spawn(binaries.server, ['start'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    serverPid = child.pid;
    logChildTo(child, logFile);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new ProductionTestError(`temporal-server exited with ${code}; its log is ${logFile}`)),
      ),
    );
    await Promise.race([waitForPort(ports.FRONTEND_GRPC_PORT, 120_000, 'Temporal Server'), exited]);
    await Promise.race([
      runAsync('sh', [path.join(DEPLOY, 'create-namespace.sh')], env, 'deploy/temporal/create-namespace.sh'),
      exited,
    ]);
    const connection = await Connection.connect({ address });
    const added = await ensureSearchAttributes(connection, serverEnv.DEFAULT_NAMESPACE ?? 'default');
    await connection.close();
    console.error(
      `Temporal Server ${versions.temporal} (pid ${serverPid}) serves ${address} after ${((Date.now() - started) / 1000).toFixed(0)} s; search attributes added: ${added.join(', ') || 'none'}`,
    );

    const args = jestArgs.length > 0 ? jestArgs : PRODUCTION_TESTS;
    const jest = spawnSync(path.join(root, 'node_modules', '.bin', 'jest'), args, {
      stdio: 'inherit',
      env: { ...process.env, CARTFLOW_TEST_TEMPORAL_ADDRESS: address, TEMPORAL_CLI_PATH: cli },
    });
    console.error(`npm run test:production took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    passed = jest.status === 0;
    return jest.status ?? 1;
  } finally {
    if (serverPid) await terminate(serverPid, 'SIGTERM', 30_000);
    await postgres?.stop();
    if (passed) fs.rmSync(dir, { recursive: true, force: true });
    else console.error(`The server's and its Postgres's logs are kept in ${dir}`);
  }
}

if (require.main === module) {
  main().then(
    (code) => (process.exitCode = code),
    (error: Error) => {
      console.error(error instanceof ProductionTestError ? error.message : error);
      process.exitCode = 1;
    },
  );
}
