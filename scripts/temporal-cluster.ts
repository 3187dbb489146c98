/**
 * A Temporal Server cluster as docker-compose.yml deploys it, for npm run test:production and for the
 * tests it runs that need a cluster of their own (test/integration/cart-temporal-restart.test.ts stops
 * and starts one with carts in flight): Temporal Server of the compose file's version, built from its
 * Go modules on first use; SQL persistence on a given PostgreSQL, its schema made by temporal-sql-tool;
 * the settings of deploy/temporal/server.env; the namespace and cartflow's search attributes.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { isPortFree, waitForPort } from '../lib/embedded/ports';
import { logChildTo, terminate } from '../lib/embedded/process';
import { ensureSearchAttributes } from '../lib/temporal';

const root = path.resolve(__dirname, '..');
const DEPLOY = path.join(root, 'deploy', 'temporal');

export class TemporalClusterError extends Error {}

/** What docker-compose.yml deploys: the Temporal Server image's tag and its Postgres's major version. */
export function composeVersions(composeText: string): { temporal: string; postgresMajor: number } {
  const temporal = /image:\s*temporalio\/server:(\d+\.\d+\.\d+)\s/.exec(composeText)?.[1];
  const block = /\n {2}temporal-postgres:\n(?: {4}.*\n)*/.exec(composeText)?.[0] ?? '';
  const postgres = /image:\s*postgres:(\d+)\s/.exec(block)?.[1];
  if (!temporal || !postgres)
    throw new TemporalClusterError(
      'docker-compose.yml names no temporalio/server:<x.y.z> image or no postgres:<major> image for temporal-postgres.',
    );
  const others = [...composeText.matchAll(/image:\s*temporalio\/(server|admin-tools):(\S+)/g)].filter(
    (m) => m[2] !== temporal,
  );
  if (others.length > 0)
    throw new TemporalClusterError(
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
    if (at <= 0) throw new TemporalClusterError(`deploy/temporal/server.env: "${trimmed}" is not KEY=value.`);
    env[trimmed.slice(0, at)] = trimmed.slice(at + 1);
  }
  return env;
}

/**
 * temporal-server and temporal-sql-tool of `version`, built with `go build` from the module
 * go.temporal.io/server (the Go module proxy serves it) into `toolsDir` on first use.
 */
export function obtainTemporalServer(version: string, toolsDir: string): { server: string; sqlTool: string } {
  const dir = path.join(toolsDir, `temporal-server-${version}`);
  const server = path.join(dir, 'temporal-server');
  const sqlTool = path.join(dir, 'temporal-sql-tool');
  if (fs.existsSync(server) && fs.existsSync(sqlTool)) return { server, sqlTool };
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0)
    throw new TemporalClusterError(
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
    throw new TemporalClusterError(
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
      throw new TemporalClusterError(`go build ${pkg} of Temporal Server ${version} failed.`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(partial, dir);
  console.error(`Built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { server, sqlTool };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, what: string): void {
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new TemporalClusterError(`${what} failed (exit ${result.status}).`);
}

function runAsync(command: string, args: string[], env: NodeJS.ProcessEnv, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new TemporalClusterError(`${what} failed (exit ${code}).`)),
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
  throw new TemporalClusterError('No free port in 20000–32767 for Temporal Server.');
}

/** What a test needs to start a cluster of its own: the binaries, and the Postgres to keep it in. */
export interface TemporalClusterTools {
  server: string;
  sqlTool: string;
  cli: string;
  /** An administrator's URL of the PostgreSQL the cluster's databases are created in. */
  postgresUrl: string;
}

/** The environment variable npm run test:production passes TemporalClusterTools in, as JSON. */
export const CLUSTER_TOOLS_VARIABLE = 'CARTFLOW_TEST_TEMPORAL_CLUSTER';

export interface TemporalCluster {
  address: string;
  namespace: string;
  /** Stops the server process (SIGTERM, then SIGKILL after 30 s); its databases stay. */
  stop(): Promise<void>;
  /** Starts the server again on the same ports and databases, and waits until it serves. */
  start(): Promise<void>;
}

/**
 * Creates the cluster's two databases (`<databasePrefix>` and `<databasePrefix>_visibility`) when
 * missing, starts the server with its log in `dir`, creates the namespace and cartflow's search
 * attributes.
 */
export async function startTemporalCluster(options: {
  tools: TemporalClusterTools;
  dir: string;
  databasePrefix: string;
}): Promise<TemporalCluster> {
  const serverEnv = parseEnvFile(fs.readFileSync(path.join(DEPLOY, 'server.env'), 'utf8'));
  const admin = new URL(options.tools.postgresUrl);
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
  const namespace = serverEnv.DEFAULT_NAMESPACE ?? 'default';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...serverEnv,
    DBNAME: options.databasePrefix,
    VISIBILITY_DBNAME: `${options.databasePrefix}_visibility`,
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
    TEMPORAL_SQL_TOOL: options.tools.sqlTool,
    TEMPORAL_CLI: options.tools.cli,
    TEMPORAL_ADDRESS: address,
  };
  run('sh', [path.join(DEPLOY, 'setup-schema.sh')], env, 'deploy/temporal/setup-schema.sh');

  const logFile = path.join(options.dir, `temporal-server-${options.databasePrefix}.log`);
  let pid: number | undefined;
  const spawnServer = async () => {
    const child = spawn(options.tools.server, ['start'], {
      env,
      cwd: options.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    pid = child.pid;
    logChildTo(child, logFile);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new TemporalClusterError(`temporal-server exited with ${code}; its log is ${logFile}`)),
      ),
    );
    exited.catch(() => undefined); // stopping it later is no error; while starting, the races below see it
    await Promise.race([waitForPort(ports.FRONTEND_GRPC_PORT, 120_000, 'Temporal Server'), exited]);
    // The namespace script also waits until the frontend answers SERVING and serves the namespace.
    await Promise.race([
      runAsync('sh', [path.join(DEPLOY, 'create-namespace.sh')], env, 'deploy/temporal/create-namespace.sh'),
      exited,
    ]);
  };
  const stop = async () => {
    if (pid !== undefined) await terminate(pid, 'SIGTERM', 30_000);
    pid = undefined;
  };
  try {
    await spawnServer();
    const connection = await Connection.connect({ address });
    await ensureSearchAttributes(connection, namespace);
    await connection.close();
  } catch (error) {
    await stop();
    throw error;
  }
  return { address, namespace, stop, start: spawnServer };
}
