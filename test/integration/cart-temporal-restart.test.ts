import { Client, Connection } from '@temporalio/client';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findFreePort } from '../../lib/embedded/ports';
import { listStoredMail, startSmtpSink, type SmtpSinkHandle } from '../../lib/embedded/smtp';
import { startEmbeddedTemporal } from '../../lib/embedded/temporal';
import { createLogger } from '../../lib/log';
import {
  CLUSTER_TOOLS_VARIABLE,
  startTemporalCluster,
  type TemporalClusterTools,
} from '../../scripts/temporal-cluster';
import { buildServer } from '../../server/app';
import { startWorkers, type RunningWorkers } from '../../workers/workers';
import { customersOutsideHoldout, makeEvent, seedShop, TEST_TOKEN, waitFor } from '../helpers/carts';
import { createTestDeps, type TestDeps } from '../helpers/deps';
import { createTestDatabases, testServices, type TestDatabases } from '../helpers/services';

const IDLE_MS = 3000;

interface RestartableTemporal {
  address: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A Temporal server of this test's own, since the shared one must not restart under the other files:
 * under npm run test:production a Temporal Server cluster with its own databases on the production
 * run's PostgreSQL (scripts/temporal-cluster.ts), else a dev server with its SQLite file in `dir`.
 */
async function startOwnTemporal(dir: string): Promise<RestartableTemporal> {
  const clusterTools = process.env[CLUSTER_TOOLS_VARIABLE];
  if (clusterTools) {
    return startTemporalCluster({
      tools: JSON.parse(clusterTools) as TemporalClusterTools,
      dir,
      databasePrefix: `temporal_restart_${crypto.randomBytes(4).toString('hex')}`,
    });
  }
  const port = await findFreePort();
  const startDev = () =>
    startEmbeddedTemporal({
      cli: testServices().temporalCli,
      dir: path.join(dir, 'temporal'),
      port,
      uiPort: undefined,
      namespace: 'default',
      logFile: path.join(dir, 'temporal.log'),
    });
  let handle = await startDev();
  return {
    address: handle.address,
    stop: () => handle.stop(),
    start: async () => {
      handle = await startDev();
    },
  };
}

/** Stopped while carts wait for their timers, and started again. */
describe(`a Temporal ${process.env[CLUSTER_TOOLS_VARIABLE] ? 'Server cluster' : 'dev server'} restarted with carts in flight`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-restart-'));
  const taskQueue = `carts-restart-${crypto.randomBytes(4).toString('hex')}`;
  let temporal: RestartableTemporal | undefined;
  let temporalRunning = false;
  let databases: TestDatabases;
  let deps: TestDeps;
  let sink: SmtpSinkHandle;
  let workers: RunningWorkers;
  let connection: Connection;
  let server: ReturnType<typeof buildServer>;
  let url: string;

  beforeAll(async () => {
    temporal = await startOwnTemporal(dir);
    temporalRunning = true;
    databases = await createTestDatabases('cart_restart');
    sink = await startSmtpSink({ dir: path.join(dir, 'mail'), port: 0 });
    deps = createTestDeps(databases, {
      smtpUrl: sink.url,
      env: {
        CARTFLOW_SESSION_IDLE: `${IDLE_MS}ms`,
        CARTFLOW_REMINDER_DELAY: 'off',
        CARTFLOW_UNSUBSCRIBE_SECRET: 'restart-test-secret-0123456789',
      },
    });
    workers = await startWorkers({
      address: temporal.address,
      namespace: 'default',
      deps,
      logger: createLogger('error'),
      queues: ['carts'],
      taskQueues: { carts: taskQueue },
    });
    connection = await Connection.connect({ address: temporal.address });
    server = buildServer({
      warehouse: deps.warehouse,
      shop: deps.shop,
      temporal: new Client({ connection, namespace: 'default' }),
      smtpUrl: sink.url,
      carts: {
        config: deps.config,
        ingestToken: TEST_TOKEN,
        logger: createLogger('error'),
        taskQueue,
        relayIntervalMs: 500,
      },
    });
    await server.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await server?.close();
    await workers?.shutdown();
    await connection?.close();
    if (temporalRunning) await temporal?.stop();
    await deps?.close();
    await sink?.stop();
    await databases?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const post = async (session: string, customerId: number) => {
    const response = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [makeEvent({ user_session: session, user_id: String(customerId) })] }),
    });
    expect(response.status).toBe(202);
    return response.headers.get('x-cartflow-deferred');
  };

  it('fires the timers of carts in flight once it is back, and carts posted while it was down are not lost', async () => {
    const customers = customersOutsideHoldout(8, 0.1, 9000);
    await seedShop(
      deps.shop,
      customers.map((id) => ({ id })),
    );
    const inFlight = customers
      .slice(0, 5)
      .map((id) => ({ id, session: `flight-${id}-${crypto.randomUUID()}` }));
    for (const cart of inFlight) expect(await post(cart.session, cart.id)).toBeNull();

    await temporal!.stop();
    temporalRunning = false;
    const whileDown = customers.slice(5).map((id) => ({ id, session: `down-${id}-${crypto.randomUUID()}` }));
    // The events are stored and answered 202; forwarding waits in the outbox.
    for (const cart of whileDown) expect(await post(cart.session, cart.id)).toBe('1');
    // Every in-flight cart's deadline passes while the server is down.
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS + 2000));
    expect(listStoredMail(path.join(dir, 'mail'))).toHaveLength(0);

    await temporal!.start();
    temporalRunning = true;
    const all = [...inFlight, ...whileDown];
    const mails = await waitFor(
      'an e-mail for every cart',
      () => {
        const got = listStoredMail(path.join(dir, 'mail'));
        return got.length >= all.length ? got : undefined;
      },
      90_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const perSession = new Map<string, number>();
    for (const mail of listStoredMail(path.join(dir, 'mail'))) {
      const session = (mail.headers['x-cartflow-cart'] ?? '').replace(/:[0-9a-f]{8}$/, '');
      perSession.set(session, (perSession.get(session) ?? 0) + 1);
    }
    expect(Object.fromEntries(perSession)).toEqual(Object.fromEntries(all.map((cart) => [cart.session, 1])));
    expect(mails.length).toBe(all.length);
    const { rows } = await deps.warehouse.query(
      `select count(*)::int as n from staging.raw_event_ids where forwarded_at is null`,
    );
    expect(rows[0].n).toBe(0);
  });
});
