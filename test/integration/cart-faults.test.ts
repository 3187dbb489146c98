import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import type { StoredMail } from '../../lib/embedded/smtp';
import { findFreePort } from '../../lib/embedded/ports';
import { cartWorkflowId } from '../../contracts/names';
import {
  customersOutsideHoldout,
  makeEvent,
  seedShop,
  sleep,
  startCartStack,
  waitFor,
  type CartStack,
} from '../helpers/carts';
import { testServices } from '../helpers/services';

const projectRoot = path.resolve(__dirname, '../..');
const pool = customersOutsideHoldout(10, 0.1, 7000);

/** What the ledger says about a session's abandoned-cart e-mail. */
async function ledgerOf(stack: CartStack, session: string) {
  const { rows } = await stack.deps.warehouse.query<{
    status: string;
    attempts: number;
    last_error: string | null;
    message_id: string;
  }>(
    `select e.status, e.attempts, e.last_error, e.message_id from ops.cart_emails e
       join core.fact_retargeting r using (cart_id, kind)
      where r.user_session = $1 and e.kind = 'abandoned'`,
    [session],
  );
  return rows[0];
}

const abandonedMails = (stack: CartStack, session: string) =>
  stack.mailsFor(session).filter((mail) => mail.headers['x-cartflow-kind'] === 'abandoned');

describe('the e-mail goes out exactly once through SMTP outages', () => {
  let stack: CartStack;
  beforeAll(async () => {
    stack = await startCartStack('cart_smtp_down', { CARTFLOW_REMINDER_DELAY: 'off' });
  });
  afterAll(async () => stack?.stop());

  it('SMTP down for a while, then back: the e-mail goes out once it is back, exactly once', async () => {
    const id = pool.shift()!;
    await seedShop(stack.deps.shop, [{ id }]);
    await stack.stopSmtp();
    const session = `smtp-down-${crypto.randomUUID()}`;
    await stack.post({ events: [makeEvent({ user_session: session, user_id: String(id) })] });

    // The send fails and is retried while the server is down; each failed attempt is counted in the ledger.
    const retrying = await waitFor('the send to be retried', async () => {
      const ledger = await ledgerOf(stack, session);
      return ledger && ledger.attempts >= 3 ? ledger : undefined;
    });
    expect(retrying.last_error).toMatch(/ECONNREFUSED|connect/i);
    expect(retrying.status).toBe('pending');
    expect(abandonedMails(stack, session)).toHaveLength(0);

    await stack.startSmtp();
    const back = Date.now();
    await waitFor('the e-mail after SMTP is back', () =>
      abandonedMails(stack, session).length > 0 ? true : undefined,
    );
    expect(Date.now() - back).toBeLessThan(15_000);
    await sleep(3000);
    const mails = abandonedMails(stack, session);
    expect(mails).toHaveLength(1);
    const ledger = await ledgerOf(stack, session);
    expect(ledger).toMatchObject({ status: 'sent', message_id: mails[0].headers['message-id'] });
    expect(ledger.attempts).toBeGreaterThanOrEqual(4);
  });

  it('checks the suppression list again at the send: unsubscribed while SMTP was down, no e-mail', async () => {
    const id = pool.shift()!;
    await seedShop(stack.deps.shop, [{ id }]);
    await stack.stopSmtp();
    try {
      const session = `late-unsub-${crypto.randomUUID()}`;
      await stack.post({ events: [makeEvent({ user_session: session, user_id: String(id) })] });
      // A send that has failed once against the stopped server: its next attempt is the one to check.
      await waitFor('a failed send while SMTP is down', async () => {
        const ledger = await ledgerOf(stack, session);
        return ledger?.status === 'pending' && ledger.attempts >= 1 ? true : undefined;
      });
      await stack.deps.warehouse.query(
        `insert into ops.email_suppressions (customer_id, reason, source) values ($1, 'unsubscribed', 'test')`,
        [id],
      );
      await stack.startSmtp();
      let ledger: Awaited<ReturnType<typeof ledgerOf>>;
      await waitFor(
        'the send to give up',
        async () => ((ledger = await ledgerOf(stack, session)).status === 'suppressed' ? true : undefined),
        30_000,
        () => ledger,
      );
      const { rows } = await stack.deps.warehouse.query(
        `select decision, reason from core.fact_retargeting where user_session = $1`,
        [session],
      );
      expect(rows).toEqual([{ decision: 'suppressed', reason: 'unsubscribed' }]);
      await sleep(1000);
      expect(stack.mailsFor(session)).toHaveLength(0);
    } finally {
      await stack.startSmtp();
    }
  });
});

/** A worker for the stack's task queue in a process of its own, as production runs one. */
async function startWorkerProcess(
  stack: CartStack,
  smtpUrl: string,
  env: Record<string, string> = {},
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(projectRoot, 'test/helpers/cart-worker-process.ts')],
    {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        CARTFLOW_TEST_CART_WORKER: JSON.stringify({
          temporalAddress: testServices().temporalAddress,
          taskQueue: stack.taskQueue,
          warehouseUrl: stack.databases.warehouseUrl,
          shopUrl: stack.databases.shopUrl,
          smtpUrl,
          env: { ...stack.env, ...env },
        }),
      },
    },
  );
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('worker ready')) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`The worker process exited (${code}) before it was ready: ${output}`)),
    );
  });
  return child;
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

describe('the e-mail goes out exactly once when the worker dies', () => {
  let stack: CartStack;
  let onMail: ((mail: StoredMail) => void) | undefined;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    stack = await startCartStack(
      'cart_worker_kill',
      { CARTFLOW_REMINDER_DELAY: 'off' },
      { inProcessWorker: false, onMail: (mail) => onMail?.(mail) },
    );
  });
  afterAll(async () => {
    for (const child of children) await kill(child, 'SIGKILL');
    await stack?.stop();
  });

  it('a worker SIGKILLed between deciding and sending (claim held, SMTP in progress), then restarted: exactly one e-mail', async () => {
    // An SMTP server that accepts connections and never greets: the send hangs inside SMTP.
    const hung: net.Socket[] = [];
    const blackhole = net.createServer((socket) => hung.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const blackholePort = (blackhole.address() as net.AddressInfo).port;
    try {
      const first = await startWorkerProcess(stack, `smtp://127.0.0.1:${blackholePort}`);
      children.push(first);
      const id = pool.shift()!;
      await seedShop(stack.deps.shop, [{ id }]);
      const session = `killed-${crypto.randomUUID()}`;
      await stack.post({ events: [makeEvent({ user_session: session, user_id: String(id), quantity: 2 })] });

      await waitFor('the decision, and the send stuck in SMTP', async () =>
        (await ledgerOf(stack, session))?.status === 'pending' && hung.length > 0 ? true : undefined,
      );
      // The send holds the row's lock while it talks to SMTP.
      const locked = await stack.deps.warehouse
        .query(
          `select 1 from ops.cart_emails where kind = 'abandoned' and cart_id like $1 for update nowait`,
          [`${session}:%`],
        )
        .then(
          () => false,
          (error: { code?: string }) => error.code === '55P03',
        );
      expect(locked).toBe(true);

      await kill(first, 'SIGKILL');
      expect(abandonedMails(stack, session)).toHaveLength(0);
      expect((await ledgerOf(stack, session)).status).toBe('pending');

      const second = await startWorkerProcess(stack, stack.smtpUrl);
      children.push(second);
      await waitFor(
        'the e-mail from the restarted worker',
        () => (abandonedMails(stack, session).length > 0 ? true : undefined),
        60_000,
      );
      await sleep(3000);
      const mails = abandonedMails(stack, session);
      expect(mails).toHaveLength(1);
      const ledger = await ledgerOf(stack, session);
      expect(ledger).toMatchObject({ status: 'sent', message_id: mails[0].headers['message-id'] });
      const result = await stack.client.workflow.getHandle(cartWorkflowId(session)).describe();
      expect(result.searchAttributes.Stage).toEqual(['abandoned']);
      await kill(second, 'SIGTERM');
    } finally {
      for (const socket of hung) socket.destroy();
      blackhole.close();
    }
  });

  it("serves the worker's SDK metrics for Prometheus on CARTFLOW_WORKER_METRICS_PORT", async () => {
    const metricsPort = await findFreePort();
    const worker = await startWorkerProcess(stack, stack.smtpUrl, {
      CARTFLOW_WORKER_METRICS_PORT: String(metricsPort),
    });
    children.push(worker);
    const stickyPollers = new RegExp(
      `^temporal_num_pollers\\{[^}]*poller_type="sticky_workflow_task"[^}]*task_queue="${stack.taskQueue}"[^}]*\\} ([0-9]+)$`,
      'm',
    );
    // The endpoint answers once the runtime is up; the gauge once the worker polls its sticky queue.
    const metrics = await waitFor('the sticky pollers in the metrics', async () => {
      const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
        (response) => (response.ok ? response.text() : ''),
        () => '',
      );
      return Number(stickyPollers.exec(text)?.[1] ?? 0) > 0 ? text : undefined;
    });
    expect(metrics).toMatch(/^temporal_worker_task_slots_available\{/m);
    await kill(worker, 'SIGTERM');
  });

  it('documents the one window left: killed after the SMTP server took the message, before it was recorded — a second copy with the same Message-ID', async () => {
    const worker = await startWorkerProcess(stack, stack.smtpUrl);
    children.push(worker);
    const id = pool.shift()!;
    await seedShop(stack.deps.shop, [{ id }]);
    const session = `window-${crypto.randomUUID()}`;
    // The sink stores the message, and the worker dies before it hears the 250 reply.
    onMail = (mail) => {
      if ((mail.headers['x-cartflow-cart'] ?? '').startsWith(`${session}:`)) {
        onMail = undefined;
        worker.kill('SIGKILL');
      }
    };
    await stack.post({ events: [makeEvent({ user_session: session, user_id: String(id) })] });
    await waitFor('the first copy', () => (abandonedMails(stack, session).length > 0 ? true : undefined));
    await waitFor('the worker to die', () => (worker.signalCode === 'SIGKILL' ? true : undefined));
    expect((await ledgerOf(stack, session)).status).toBe('pending');

    const restarted = await startWorkerProcess(stack, stack.smtpUrl);
    children.push(restarted);
    await waitFor(
      'the ledger to say sent',
      async () => ((await ledgerOf(stack, session)).status === 'sent' ? true : undefined),
      60_000,
    );
    const mails = abandonedMails(stack, session);
    expect(mails).toHaveLength(2);
    expect(mails[1].headers['message-id']).toBe(mails[0].headers['message-id']);
    expect(mails[1].text).toBe(mails[0].text);
    await kill(restarted, 'SIGTERM');
  });
});
