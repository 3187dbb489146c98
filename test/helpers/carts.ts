import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { findFreePort } from '../../lib/embedded/ports';
import { listStoredMail, startSmtpSink, type SmtpSinkHandle, type StoredMail } from '../../lib/embedded/smtp';
import { createLogger } from '../../lib/log';
import { isInHoldout } from '../../carts/rules';
import { buildServer } from '../../server/app';
import { createTestDeps, type TestDeps } from './deps';
import { Client, Connection } from '@temporalio/client';
import { createTestDatabases, testServices, type TestDatabases } from './services';
import { startTestWorker, type TestWorker } from './temporal';

export const TEST_TOKEN = 'test-token';
export const TEST_SECRET = 'test-unsubscribe-secret-0123456789';

export interface ShopCustomer {
  id: number;
  firstName?: string;
  email?: string | null;
  consent?: boolean;
}

/** Customers and products in the test's shop database, as the storefront's events will name them. */
export async function seedShop(
  shop: pg.Pool,
  customers: ShopCustomer[],
  products: { id: number; name: string; price: number }[] = DEFAULT_PRODUCTS,
): Promise<void> {
  for (const c of customers) {
    await shop.query(
      `insert into customers (customer_id, first_name, last_name, email, marketing_consent, signup_at)
       values ($1, $2, 'Tester', $3, $4, now())
       on conflict (customer_id) do update set first_name = excluded.first_name, email = excluded.email,
         marketing_consent = excluded.marketing_consent`,
      [
        c.id,
        c.firstName ?? `Shopper${c.id}`,
        c.email === undefined ? `shopper${c.id}@example.test` : c.email,
        c.consent ?? true,
      ],
    );
  }
  for (const p of products) {
    await shop.query(
      `insert into products (product_id, sku, name, price) values ($1, $2, $3, $4) on conflict (product_id) do nothing`,
      [p.id, `SKU-${p.id}`, p.name, p.price],
    );
  }
}

export const DEFAULT_PRODUCTS = [
  { id: 101, name: 'Espresso cup', price: 12.5 },
  { id: 102, name: 'Moka pot', price: 39.9 },
  { id: 103, name: 'Grinder', price: 249 },
];

export interface EventOverrides {
  [field: string]: unknown;
}

/** One valid event of the contract; override any field (undefined removes it). */
export function makeEvent(overrides: EventOverrides = {}): Record<string, unknown> {
  const event: Record<string, unknown> = {
    event_id: crypto.randomUUID(),
    event_time: new Date().toISOString(),
    event_type: 'cart',
    user_id: '1',
    user_session: `s-${crypto.randomUUID()}`,
    product_id: '101',
    price: 12.5,
    quantity: 1,
    ...overrides,
  };
  for (const [key, value] of Object.entries(event)) if (value === undefined) delete event[key];
  return event;
}

export interface CartStack {
  databases: TestDatabases;
  deps: TestDeps;
  /** The in-process worker, unless the test runs its own (then undefined). */
  worker: TestWorker | undefined;
  /** A client of the test Temporal server. */
  client: Client;
  /** The task queue carts are started on. */
  taskQueue: string;
  /** The environment the stack's config was read from, for a worker process of the same config. */
  env: Record<string, string>;
  server: FastifyInstance;
  /** Where the server listens, e.g. http://127.0.0.1:40123. */
  url: string;
  /** The SMTP sink's URL; it keeps its port across stopSmtp and startSmtp. */
  smtpUrl: string;
  mailDir: string;
  /** Stops the SMTP sink: connections to it are refused until startSmtp. */
  stopSmtp(): Promise<void>;
  startSmtp(): Promise<void>;
  post(body: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Mails for a session's cart, as the sink received them. */
  mailsFor(userSession: string): StoredMail[];
  stop(): Promise<void>;
}

/**
 * A whole abandoned-cart stack for one test file: its own databases, a real SMTP sink, a real worker
 * on unique task queues, and the HTTP server on a free port, forwarding to that worker's queue.
 */
export async function startCartStack(
  label: string,
  env: Record<string, string> = {},
  options: { relayIntervalMs?: number; inProcessWorker?: boolean; onMail?: (mail: StoredMail) => void } = {},
): Promise<CartStack> {
  const databases = await createTestDatabases(label);
  const mailDir = fs.mkdtempSync(path.join(os.tmpdir(), `cartflow-mail-${label}-`));
  const smtpPort = await findFreePort();
  let smtp: SmtpSinkHandle | undefined = await startSmtpSink({
    dir: mailDir,
    port: smtpPort,
    onMail: options.onMail,
  });
  const smtpUrl = smtp.url;
  const stackEnv = {
    CARTFLOW_SESSION_IDLE: '2s',
    CARTFLOW_UNSUBSCRIBE_SECRET: TEST_SECRET,
    CARTFLOW_PUBLIC_URL: 'http://shop.test',
    ...env,
  };
  const deps = createTestDeps(databases, { smtpUrl, env: stackEnv });
  const worker = options.inProcessWorker === false ? undefined : await startTestWorker(deps);
  const connection = await Connection.connect({ address: testServices().temporalAddress });
  const client = new Client({ connection, namespace: 'default' });
  const taskQueue = worker?.taskQueues.carts ?? `carts-${crypto.randomBytes(4).toString('hex')}`;
  const server = buildServer({
    warehouse: deps.warehouse,
    shop: deps.shop,
    temporal: client,
    smtpUrl,
    carts: {
      config: deps.config,
      ingestToken: TEST_TOKEN,
      logger: createLogger('error'),
      taskQueue,
      relayIntervalMs: options.relayIntervalMs ?? 0,
    },
  });
  // Real HTTP on a free port (fastify's inject pulls an ES-module-only dependency jest cannot load).
  await server.listen({ port: 0, host: '127.0.0.1' });
  const address = server.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    databases,
    deps,
    worker,
    client,
    taskQueue,
    env: stackEnv,
    server,
    smtpUrl,
    mailDir,
    stopSmtp: async () => {
      await smtp?.stop();
      smtp = undefined;
    },
    startSmtp: async () => {
      smtp ??= await startSmtpSink({ dir: mailDir, port: smtpPort, onMail: options.onMail });
    },
    post: async (body, token = TEST_TOKEN) => {
      const response = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    mailsFor: (userSession) =>
      listStoredMail(mailDir).filter((mail) =>
        (mail.headers['x-cartflow-cart'] ?? '').startsWith(`${userSession}:`),
      ),
    stop: async () => {
      await server.close();
      await worker?.stop();
      await connection.close();
      await deps.close();
      await smtp?.stop();
      await databases.drop();
      fs.rmSync(mailDir, { recursive: true, force: true });
    },
  };
}

/**
 * Polls until `check` returns a value other than undefined, or fails after the timeout with `what` and,
 * when given, what `lastSeen` says the state was then.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  lastSeen?: () => unknown,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const seen = lastSeen ? `; last seen: ${JSON.stringify(lastSeen())}` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${seen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Customer ids outside the holdout group at `share`, from `from` upwards: tests that expect an e-mail
 * use them, so that the stable holdout hash does not silently take their cart.
 */
export function customersOutsideHoldout(count: number, share: number, from = 1000): number[] {
  const ids: number[] = [];
  for (let id = from; ids.length < count; id++) if (!isInHoldout(String(id), share)) ids.push(id);
  return ids;
}

/** A customer id inside the holdout group at `share`, from `from` upwards. */
export function customerInHoldout(share: number, from = 1000): number {
  for (let id = from; ; id++) if (isInHoldout(String(id), share)) return id;
}

/**
 * A second HTTP server over the stack's databases whose Temporal is a closed port: it stores events
 * and cannot forward them, as the real server does while Temporal is unreachable.
 */
export async function startCutOffServer(
  stack: CartStack,
): Promise<{ post(body: unknown): Promise<Response>; close(): Promise<void> }> {
  const connection = Connection.lazy({ address: '127.0.0.1:1' });
  const server = buildServer({
    warehouse: stack.deps.warehouse,
    shop: stack.deps.shop,
    temporal: new Client({ connection, namespace: 'default' }),
    smtpUrl: stack.smtpUrl,
    carts: {
      config: stack.deps.config,
      ingestToken: TEST_TOKEN,
      logger: createLogger('error'),
      taskQueue: stack.taskQueue,
      relayIntervalMs: 0,
    },
  });
  await server.listen({ port: 0, host: '127.0.0.1' });
  const address = server.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    post: (body) =>
      fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    close: async () => {
      await server.close();
      await connection.close();
    },
  };
}
