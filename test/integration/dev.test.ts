import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../../lib/embedded/process';
import { findFreePort } from '../../lib/embedded/ports';
import type { PlatformState } from '../../lib/endpoints';
import { testServices } from '../helpers/services';

const projectRoot = path.resolve(__dirname, '../..');

/**
 * `cartflow dev`, what `npm start` runs, as a newcomer runs it: its own embedded Postgres, Temporal
 * and SMTP sink under a fresh CARTFLOW_HOME, on ports of its own.
 */
describe('cartflow dev', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let ports: Record<string, number>;

  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-dev-'));
    fs.chmodSync(home, 0o755);
    ports = {
      CARTFLOW_HTTP_PORT: await findFreePort(),
      CARTFLOW_PG_PORT: await findFreePort(),
      CARTFLOW_TEMPORAL_PORT: await findFreePort(),
      CARTFLOW_TEMPORAL_UI_PORT: await findFreePort(),
      CARTFLOW_SMTP_PORT: await findFreePort(),
    };
    env = {
      ...process.env,
      CARTFLOW_HOME: home,
      TEMPORAL_CLI_PATH: testServices().temporalCli,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    };
    for (const variable of [
      'CARTFLOW_WAREHOUSE_URL',
      'CARTFLOW_SHOP_URL',
      'TEMPORAL_ADDRESS',
      'SMTP_URL',
      'CARTFLOW_INGEST_TOKEN',
    ]) {
      delete env[variable];
    }
  });

  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  const startDev = () =>
    spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'cli/main.ts'), 'dev'], {
      cwd: projectRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  const children: ChildProcess[] = [];
  afterEach(() => {
    // A failed assertion must not leave a platform running into the next test.
    for (const child of children.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  /** Up means /health reports every component up and the state file that `cartflow status` reads is written. */
  async function waitUntilUp(
    child: ChildProcess,
  ): Promise<{ status: string; components: Record<string, { up: boolean }> }> {
    children.push(child);
    let output = '';
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`cartflow dev exited early:\n${output}`);
      try {
        const response = await fetch(`http://127.0.0.1:${ports.CARTFLOW_HTTP_PORT}/health`);
        const body = (await response.json()) as {
          status: string;
          components: Record<string, { up: boolean }>;
        };
        if (response.status === 200 && fs.existsSync(path.join(home, 'state.json'))) return body;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`cartflow dev was not up within 60 s:\n${output}`);
  }

  async function stopWithSigint(child: ChildProcess): Promise<number | null> {
    child.kill('SIGINT');
    return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  it('brings every component up within 60 s, serves the Temporal UI with the search attributes, and leaves nothing behind on SIGINT', async () => {
    const started = Date.now();
    const child = startDev();
    const health = await waitUntilUp(child);
    const seconds = (Date.now() - started) / 1000;
    expect(health.status).toBe('up');
    expect(Object.keys(health.components).sort()).toEqual([
      'shop',
      'smtp',
      'temporal',
      'warehouse',
      'workers',
    ]);
    expect(seconds).toBeLessThan(60);

    const ui = await fetch(`http://127.0.0.1:${ports.CARTFLOW_TEMPORAL_UI_PORT}/`);
    expect(ui.status).toBe(200);

    const attributes = spawnSync(
      testServices().temporalCli,
      ['operator', 'search-attribute', 'list', '--address', `127.0.0.1:${ports.CARTFLOW_TEMPORAL_PORT}`],
      { encoding: 'utf8' },
    ).stdout;
    for (const [name, type] of [
      ['CustomerId', 'Keyword'],
      ['CartValue', 'Double'],
      ['Stage', 'Keyword'],
      ['PipelineDate', 'Keyword'],
    ]) {
      expect(attributes).toMatch(new RegExp(`${name}\\s+${type}`));
    }

    const state = JSON.parse(fs.readFileSync(path.join(home, 'state.json'), 'utf8')) as PlatformState;
    const pids = state.processes
      .map((p) => p.pid)
      .filter((pid): pid is number => pid !== undefined && pid !== child.pid);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    // The workers run in a process of their own, not in the API's.
    expect(state.processes.find((p) => p.name === 'worker')?.pid).not.toBe(child.pid);
    expect(pids).toContain(state.processes.find((p) => p.name === 'worker')?.pid);
    expect(pids.every(isAlive)).toBe(true);

    expect(await stopWithSigint(child)).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(fs.existsSync(path.join(home, 'state.json'))).toBe(false);
    for (const port of [ports.CARTFLOW_PG_PORT, ports.CARTFLOW_TEMPORAL_PORT, ports.CARTFLOW_HTTP_PORT]) {
      expect(await isListening(port)).toBe(false);
    }
  });

  it('reuses the state of the first start: the same ingest token and data', async () => {
    const token = fs.readFileSync(path.join(home, 'ingest-token'), 'utf8');
    const child = startDev();
    await waitUntilUp(child);
    const state = JSON.parse(fs.readFileSync(path.join(home, 'state.json'), 'utf8')) as PlatformState;
    expect(state.endpoints.ingestToken).toBe(token.trim());
    expect(await stopWithSigint(child)).toBe(0);
  });

  it('refuses a port in use, naming the port and the variable that moves it', async () => {
    const blocker = net.createServer().listen(ports.CARTFLOW_HTTP_PORT, '0.0.0.0');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const run = spawnSync(
        process.execPath,
        ['--import', 'tsx', path.join(projectRoot, 'cli/main.ts'), 'dev'],
        {
          cwd: projectRoot,
          env,
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`Port ${ports.CARTFLOW_HTTP_PORT}`);
      expect(run.stderr).toContain('CARTFLOW_HTTP_PORT');
    } finally {
      blocker.close();
    }
  });
});

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
