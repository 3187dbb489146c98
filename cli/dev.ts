import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../lib/config';
import { redactUrl } from '../lib/db';
import { secretInHome } from '../lib/home-secret';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../lib/embedded/postgres';
import { assertPortFree } from '../lib/embedded/ports';
import { startSmtpSink, type SmtpSinkHandle } from '../lib/embedded/smtp';
import {
  resolveTemporalCli,
  startEmbeddedTemporal,
  type EmbeddedTemporalHandle,
} from '../lib/embedded/temporal';
import { writePlatformState, stateFile, type Endpoints, type PlatformState } from '../lib/endpoints';
import type { Logger } from '../lib/log';
import { resolveDashboardToken } from '../server/dashboard';
import { ALL_TASK_QUEUES } from '../workers/workers';
import { connectTemporalClient } from '../lib/temporal';
import { startApplication, stopOnSignals, type Stopper } from './application';
import { ensureDailyPipelineSchedule } from './pipeline-schedule';

/**
 * `cartflow dev` (what `npm start` runs): starts Postgres, Temporal and an SMTP sink where no external
 * service is configured, then the application: migrations and the HTTP server in this process, and a
 * worker for every task queue in a child process (`cartflow worker`). Ctrl-C stops everything, in
 * reverse order, and leaves no process behind.
 */
export async function runDev(config: Config, logger: Logger): Promise<void> {
  const log = logger.scope({ component: 'dev' });
  const stoppers: Stopper[] = [];
  const stopAll = stopOnSignals(stoppers, log, () => fs.rmSync(stateFile(config), { force: true }));
  try {
    await startEverything(config, log, stoppers);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function startEverything(config: Config, log: Logger, stoppers: Stopper[]): Promise<void> {
  const started = Date.now();
  fs.mkdirSync(path.join(config.home, 'logs'), { recursive: true });
  await assertPortFree(config.httpPort, 'the cartflow API and dashboard', 'CARTFLOW_HTTP_PORT');
  const processes: PlatformState['processes'] = [];

  let postgres: EmbeddedPostgresHandle | undefined;
  if (!config.warehouseUrl || !config.shopUrl) {
    postgres = await startEmbeddedPostgres({
      dir: path.join(config.home, 'postgres'),
      port: config.embedded.postgresPort,
      databases: ['warehouse', 'shop'],
      logFile: path.join(config.home, 'logs', 'postgres.log'),
    });
    stoppers.push({ name: 'Postgres', stop: () => postgres!.stop() });
    processes.push({ name: 'postgres', pid: postgres.pid, port: postgres.port });
    log.info('Embedded Postgres is up', { port: postgres.port });
  }
  const warehouseUrl = config.warehouseUrl ?? postgres!.url('warehouse');
  const shopUrl = config.shopUrl ?? postgres!.url('shop');

  let temporalServer: EmbeddedTemporalHandle | undefined;
  if (!config.temporal.address) {
    const cli = resolveTemporalCli({
      cliPath: config.temporal.cliPath,
      toolsDir: path.join(config.home, 'tools'),
    });
    temporalServer = await startEmbeddedTemporal({
      cli,
      dir: path.join(config.home, 'temporal'),
      port: config.embedded.temporalPort,
      uiPort: config.embedded.temporalUiPort,
      namespace: config.temporal.namespace,
      logFile: path.join(config.home, 'logs', 'temporal.log'),
    });
    stoppers.push({ name: 'Temporal', stop: () => temporalServer!.stop() });
    processes.push({ name: 'temporal', pid: temporalServer.pid, port: config.embedded.temporalPort });
    log.info('Embedded Temporal is up', { address: temporalServer.address });
  }
  const temporalAddress = config.temporal.address ?? temporalServer!.address;

  let smtpSink: SmtpSinkHandle | undefined;
  const mailDir = path.join(config.home, 'mail');
  if (!config.smtpUrl) {
    smtpSink = await startSmtpSink({ dir: mailDir, port: config.embedded.smtpPort });
    stoppers.push({ name: 'SMTP sink', stop: () => smtpSink!.stop() });
    processes.push({ name: 'smtp-sink', pid: process.pid, port: smtpSink.port });
  }
  const smtpUrl = config.smtpUrl ?? smtpSink!.url;

  const endpoints: Endpoints = {
    warehouseUrl,
    shopUrl,
    temporalAddress,
    temporalNamespace: config.temporal.namespace,
    smtpUrl,
    httpUrl: `http://localhost:${config.httpPort}`,
    temporalUiUrl: temporalServer?.uiUrl,
    mailDir: smtpSink ? mailDir : undefined,
    // The storefront's token: generated at first start, kept under CARTFLOW_HOME, printed at every start.
    ingestToken: config.ingestToken ?? secretInHome(config.home, 'ingest-token', 24),
  };
  await startApplication({ config, endpoints, logger: log, stoppers, queues: [], serveHttp: true });
  // The workers in a process of their own: a model's fit and the carts' workflow tasks run on a
  // worker's event loop, and in the API's they held up its requests for as long as each step took.
  const worker = await startWorkerProcess(endpoints, log);
  stoppers.push({ name: 'workers', stop: () => worker.stop() });
  processes.push({ name: 'worker', pid: worker.pid });
  // The daily pipeline's Temporal Schedule, created or brought in line now that workers run.
  const scheduler = await connectTemporalClient(temporalAddress, config.temporal.namespace);
  try {
    const outcome = await ensureDailyPipelineSchedule(scheduler, { timezone: config.timezone });
    log.info(`Schedule daily-pipeline ${outcome}: every day at 02:00 ${config.timezone}`);
  } finally {
    await scheduler.connection.close();
  }
  processes.push({ name: 'cartflow', pid: process.pid, port: config.httpPort });
  writePlatformState(config, { pid: process.pid, startedAt: new Date().toISOString(), endpoints, processes });

  const lines = [
    '',
    `cartflow is running (started in ${((Date.now() - started) / 1000).toFixed(1)} s). Ctrl-C stops everything.`,
    '',
    `  API and dashboard   ${endpoints.httpUrl}            (health: ${endpoints.httpUrl}/health)`,
    `  Temporal Web UI     ${endpoints.temporalUiUrl ?? `(external Temporal at ${temporalAddress})`}`,
    `  Mail outbox         ${smtpSink ? `${endpoints.httpUrl}/mail   (files in ${mailDir})` : `(external SMTP at ${redactUrl(smtpUrl)})`}`,
    `  Warehouse           ${redactUrl(warehouseUrl)}`,
    `  Shop database       ${redactUrl(shopUrl)}`,
    `  Ingest token        ${endpoints.ingestToken}   (Authorization: Bearer <token> on POST /v1/events)`,
    `  Dashboard token     ${resolveDashboardToken(config)}   (sign in at ${endpoints.httpUrl}/; read-only, docs/dashboard.md)`,
    '',
    '  Next: "npx cartflow simulate --customers 1000 --days 90 --seed 1" fills the demo shop.',
    '  Then "npx cartflow simulate-live --rate 10" plays shoppers against the API; abandoned carts are',
    `  e-mailed ${Math.round(config.sessionIdleMs / 1000)} s after their last event (CARTFLOW_SESSION_IDLE; docs/carts.md).`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** How long the worker process may take to poll every task queue. */
const WORKER_START_MS = 120_000;

/**
 * `cartflow worker` for every task queue as a child of this process, told the endpoints this process
 * resolved; its log lines go to this process's. Resolves once it polls; `stop` ends it (SIGTERM, then
 * SIGKILL after 30 s).
 */
async function startWorkerProcess(
  endpoints: Endpoints,
  log: Logger,
): Promise<{ pid: number | undefined; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, path.join(__dirname, 'main.ts'), 'worker', '--queue', ...ALL_TASK_QUEUES],
    {
      env: {
        ...process.env,
        CARTFLOW_WAREHOUSE_URL: endpoints.warehouseUrl,
        CARTFLOW_SHOP_URL: endpoints.shopUrl,
        TEMPORAL_ADDRESS: endpoints.temporalAddress,
        TEMPORAL_NAMESPACE: endpoints.temporalNamespace,
        SMTP_URL: endpoints.smtpUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stopping = false;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then((code) => {
    if (!stopping) log.error('The worker process exited; restart cartflow', { code });
  });
  let output = '';
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`The worker process did not start within ${WORKER_START_MS / 1000} s`)),
      WORKER_START_MS,
    );
    const onData = (stream: NodeJS.WriteStream) => (data: Buffer) => {
      stream.write(data);
      if (ready) return;
      output += data.toString();
      if (output.includes('Workers are running')) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData(process.stdout));
    child.stderr!.on('data', onData(process.stderr));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`The worker process exited (${code}) before it polled:\n${output.slice(-4000)}`));
    });
  }).catch((error: Error) => {
    stopping = true;
    child.kill('SIGKILL');
    throw error;
  });
  return {
    pid: child.pid,
    stop: async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
