import crypto from 'node:crypto';
import type { temporal } from '@temporalio/proto';
import type { StoredMail } from '../../lib/embedded/smtp';
import { cartWorkflowId } from '../../contracts/names';
import { createLogger } from '../../lib/log';
import { cartSettingsFrom, createCartForwarder, startEventRelay } from '../../server/cart-forwarder';
import { CartWorkflow, cartEventsSignal, cartQuery } from '../../workflows';
import {
  customerInHoldout,
  customersOutsideHoldout,
  makeEvent,
  seedShop,
  sleep,
  startCartStack,
  startCutOffServer,
  waitFor,
  type CartStack,
} from '../helpers/carts';

const IDLE_MS = 2000;

/** A history or description as text, with every payload decoded, to search it for what must not be there. */
function decodedHistory(value: unknown): string {
  return JSON.stringify(JSON.parse(JSON.stringify(value)), (key, field: unknown) =>
    key === 'data' && typeof field === 'string' ? Buffer.from(field, 'base64').toString('utf8') : field,
  );
}
const REMINDER_MS = 4000;
const WINDOW_MS = 12_000;

describe('CartWorkflow: abandoned carts, the shop rules and attribution, on real Temporal, Postgres and SMTP', () => {
  let stack: CartStack;
  // Each test shops as its own customers: the frequency cap would otherwise link the tests.
  const pool = customersOutsideHoldout(40, 0.1);
  const customer = () => pool.shift()!;

  beforeAll(async () => {
    stack = await startCartStack('cart_workflow', {
      CARTFLOW_SESSION_IDLE: `${IDLE_MS}ms`,
      CARTFLOW_REMINDER_DELAY: `${REMINDER_MS}ms`,
      CARTFLOW_ATTRIBUTION_WINDOW: `${WINDOW_MS}ms`,
      CARTFLOW_HOLDOUT_SHARE: '10%',
    });
  });
  afterAll(async () => stack?.stop());

  const decisionsOf = async (session: string) =>
    (
      await stack.deps.warehouse.query(
        `select kind, decision, reason, offer_type, offer_value, offer_code, message_id, sent_at is not null as sent,
                converted_at is not null as converted, recovered_revenue::float8 as recovered_revenue
           from core.fact_retargeting where user_session = $1 order by kind`,
        [session],
      )
    ).rows;
  const cartSessionOf = async (session: string) =>
    (
      await stack.deps.warehouse.query(
        `select outcome, item_count, units, cart_value::float8 as cart_value, purchase_value::float8 as purchase_value,
                abandoned_at is not null as abandoned
           from core.fact_cart_session where user_session = $1`,
        [session],
      )
    ).rows;
  const mailOf = (session: string, kind = 'abandoned') =>
    waitFor(`the ${kind} e-mail of ${session}`, () =>
      stack.mailsFor(session).find((mail) => mail.headers['x-cartflow-kind'] === kind),
    );
  const decided = (session: string) =>
    waitFor(`a decision about ${session}`, async () => {
      const rows = await decisionsOf(session);
      return rows.length > 0 && rows[0].decision !== 'pending' ? rows : undefined;
    });
  const shop = (session: string, userId: number | string, events: Record<string, unknown>[]) =>
    stack.post({
      events: events.map((event) => makeEvent({ user_session: session, user_id: String(userId), ...event })),
    });

  it('e-mails an abandoned cart seconds after the session expires: name, items, prices, total, offer, links — once, then the reminder', async () => {
    const id = customer();
    await seedShop(stack.deps.shop, [{ id, firstName: 'Grace', email: `grace.${id}@example.test` }]);
    const session = `first-${crypto.randomUUID()}`;
    const response = await shop(session, id, [
      { product_id: '101', price: 12.5, quantity: 2 },
      { product_id: '102', price: 39.9 },
      { event_type: 'view', product_id: '103', price: 249 },
    ]);
    expect(response.status).toBe(202);
    const acknowledged = Date.now();

    const mail = await mailOf(session);
    const delayMs = Date.parse(mail.receivedAt) - (acknowledged + IDLE_MS);
    expect(delayMs).toBeLessThan(10_000);
    expect(mail.to).toEqual([`grace.${id}@example.test`]);
    expect(mail.subject).toBe('Grace, you left something in your cart');
    const code = /code (SHIP-[A-Z0-9-]{14})/.exec(mail.text)?.[1];
    expect(code).toBeDefined();
    for (const text of [
      'Hi Grace,',
      '2 × Espresso cup   €12.50 each   €25.00',
      '1 × Moka pot   €39.90 each   €39.90',
      'Total: €64.90',
      `free shipping on your order with the code ${code}`,
      `Back to your cart: http://shop.test/cart/${session}?code=${code}`,
      'Unsubscribe: http://shop.test/v1/unsubscribe?token=v1.',
    ]) {
      expect(mail.text).toContain(text);
    }
    expect(mail.text).not.toContain('Grinder');
    expect(mail.text).not.toContain('You might also like');
    expect(mail.html).toContain('<td>Espresso cup</td>');
    expect(mail.html).toContain(`<strong>${code}</strong>`);
    expect(mail.html).toContain(`href="http://shop.test/cart/${session}?code=${code}"`);

    const [decision] = await decisionsOf(session);
    expect(decision).toMatchObject({
      kind: 'abandoned',
      decision: 'sent',
      reason: null,
      offer_type: 'free_shipping',
      offer_code: code,
      sent: true,
    });
    expect(mail.headers['message-id']).toBe(decision.message_id);
    expect(await cartSessionOf(session)).toEqual([
      {
        outcome: 'abandoned',
        item_count: 2,
        units: 3,
        cart_value: 64.9,
        purchase_value: null,
        abandoned: true,
      },
    ]);

    // What the Temporal UI shows: ids and amounts, and nowhere the shopper's name or address.
    // (The e-mail leaves before the workflow task that sent it completes and records the new Stage.)
    const handle = stack.client.workflow.getHandle(cartWorkflowId(session));
    const description = await waitFor('the abandoned Stage in the search attributes', async () => {
      const described = await handle.describe();
      return described.searchAttributes.Stage?.[0] === 'abandoned' ? described : undefined;
    });
    expect(description.searchAttributes).toMatchObject({
      CustomerId: [String(id)],
      Stage: ['abandoned'],
      CartValue: [64.9],
    });
    const history = decodedHistory(await handle.fetchHistory());
    expect(history).toMatch(new RegExp(`userId\\W+${id}\\W`));
    expect(history).toMatch(/productId\W+101\W/);
    expect(history).not.toMatch(/grace|@example\.test/i);
    expect(decodedHistory(description.raw)).not.toMatch(/grace|@example\.test/i);

    const reminder = await mailOf(session, 'reminder');
    expect(reminder.subject).toBe('Last call, Grace: your cart and your free shipping are waiting');
    expect(reminder.text).toContain(code!);
    expect(reminder.headers['message-id']).not.toBe(mail.headers['message-id']);
    expect(await handle.result()).toEqual({
      cartId: expect.stringMatching(new RegExp(`^${session}:`)),
      stage: 'abandoned',
      outcome: 'not_recovered',
    });
    expect(stack.mailsFor(session).map((m) => m.headers['x-cartflow-kind'])).toEqual([
      'abandoned',
      'reminder',
    ]);
    expect((await decisionsOf(session)).map((d) => [d.kind, d.decision])).toEqual([
      ['abandoned', 'sent'],
      ['reminder', 'sent'],
    ]);
  });

  it('restarts the idle timer on every event', async () => {
    const id = customer();
    await seedShop(stack.deps.shop, [{ id }]);
    const session = `idle-${crypto.randomUUID()}`;
    let lastAck = 0;
    for (let i = 0; i < 4; i++) {
      expect((await shop(session, id, [{ product_id: '101' }])).status).toBe(202);
      lastAck = Date.now();
      await sleep(IDLE_MS * 0.6);
    }
    // 4 × 1.2 s > one idle period: without restarts the cart would have expired long ago.
    expect(stack.mailsFor(session)).toHaveLength(0);
    const cart = await stack.client.workflow.getHandle(cartWorkflowId(session)).query(cartQuery);
    expect(cart.stage).toBe('cart');
    expect(cart.items).toEqual([{ productId: '101', quantity: 4, unitPrice: 12.5 }]);
    expect(Date.parse(cart.expiresAt!)).toBeGreaterThan(lastAck + IDLE_MS - 1000);
    const mail = await mailOf(session);
    expect(Date.parse(mail.receivedAt)).toBeGreaterThanOrEqual(lastAck + IDLE_MS - 500);
    // Each event restarted the timer in the workflow task that applied it, so the first timer to fire
    // is the one that found the session idle; the e-mail left in the workflow task it woke (decide and
    // send are local activities, markers of that task) and no activity task was scheduled. The e-mail
    // reaches the sink before that task completes: wait for its completion to be in the history.
    const handle = stack.client.workflow.getHandle(cartWorkflowId(session));
    const firstFireIn = (events: temporal.api.history.v1.IHistoryEvent[]) =>
      events.findIndex((event) => event.timerFiredEventAttributes);
    const events = await waitFor('the workflow task the timer woke to complete', async () => {
      const found = (await handle.fetchHistory()).events ?? [];
      const fire = firstFireIn(found);
      return fire >= 0 && found.some((event, i) => i > fire && event.workflowTaskCompletedEventAttributes)
        ? found
        : undefined;
    });
    const firstFire = firstFireIn(events);
    const beforeFire = events.slice(0, firstFire);
    expect(beforeFire.filter((event) => event.timerStartedEventAttributes)).toHaveLength(4);
    expect(beforeFire.filter((event) => event.timerCanceledEventAttributes)).toHaveLength(3);
    const woken = events.findIndex((event, i) => i > firstFire && event.workflowTaskCompletedEventAttributes);
    const nextTask = events.findIndex((event, i) => i > woken && event.workflowTaskScheduledEventAttributes);
    const markers = events
      .slice(woken + 1, nextTask < 0 ? undefined : nextTask)
      .flatMap((event) => event.markerRecordedEventAttributes?.markerName ?? []);
    expect(markers).toEqual(['core_local_activity', 'core_local_activity']);
    expect(events.filter((event) => event.activityTaskScheduledEventAttributes)).toEqual([]);
  });

  it('keeps the session open while a later event waits in the outbox, and expires it after that event', async () => {
    const id = customer();
    await seedShop(stack.deps.shop, [{ id }]);
    const session = `late-${crypto.randomUUID()}`;
    await shop(session, id, [{ product_id: '101' }]);
    await sleep(IDLE_MS / 2);
    // The second event is accepted while Temporal is out of reach: stored, in the outbox, not forwarded.
    const cut = await startCutOffServer(stack);
    try {
      const response = await cut.post({
        events: [makeEvent({ user_session: session, user_id: String(id), product_id: '102', price: 39.9 })],
      });
      expect(response.headers.get('x-cartflow-deferred')).toBe('1');
    } finally {
      await cut.close();
    }
    const lateAck = Date.now();
    // The cart's own timer fires now, but the ledger shows the later event: no abandonment yet.
    await sleep(IDLE_MS / 2 + 500);
    const handle = stack.client.workflow.getHandle(cartWorkflowId(session));
    expect((await handle.query(cartQuery)).stage).toBe('cart');
    expect(stack.mailsFor(session)).toHaveLength(0);

    const relay = startEventRelay({
      warehouse: stack.deps.warehouse,
      forwarder: createCartForwarder({
        client: stack.client,
        warehouse: stack.deps.warehouse,
        taskQueue: stack.taskQueue,
        settings: cartSettingsFrom(stack.deps.config),
        logger: createLogger('error'),
      }),
      logger: createLogger('error'),
      intervalMs: 60_000,
      minAgeMs: 0,
    });
    try {
      expect(await relay.runOnce()).toBeGreaterThanOrEqual(1);
    } finally {
      await relay.stop();
    }
    const mail = await mailOf(session);
    expect(Date.parse(mail.receivedAt)).toBeGreaterThanOrEqual(lateAck + IDLE_MS - 500);
    expect(mail.text).toContain('Espresso cup');
    expect(mail.text).toContain('Moka pot');
  });

  it('ends the cart on a purchase before the session expires: no e-mail', async () => {
    const id = customer();
    await seedShop(stack.deps.shop, [{ id }]);
    const session = `buys-${crypto.randomUUID()}`;
    await shop(session, id, [
      { product_id: '101', quantity: 2 },
      { product_id: '102', price: 39.9 },
    ]);
    await shop(session, id, [
      { event_type: 'purchase', product_id: '101', quantity: 2 },
      { event_type: 'purchase', product_id: '102', price: 39.9 },
    ]);
    const result = await stack.client.workflow.getHandle(cartWorkflowId(session)).result();
    expect(result).toMatchObject({ stage: 'purchased', outcome: 'purchased' });
    expect(await cartSessionOf(session)).toEqual([
      {
        outcome: 'purchased',
        item_count: 2,
        units: 3,
        cart_value: 64.9,
        purchase_value: 64.9,
        abandoned: false,
      },
    ]);
    expect(await decisionsOf(session)).toEqual([]);
    await sleep(1000);
    expect(stack.mailsFor(session)).toHaveLength(0);
  });

  it('starts a new cart for the session when an event comes after a purchase ended the last one', async () => {
    const id = customer();
    await seedShop(stack.deps.shop, [{ id }]);
    const session = `again-${crypto.randomUUID()}`;
    await shop(session, id, [{ product_id: '101' }]);
    await shop(session, id, [{ event_type: 'purchase', product_id: '101' }]);
    const handle = stack.client.workflow.getHandle(cartWorkflowId(session));
    const bought = await handle.result();
    expect(bought).toMatchObject({ outcome: 'purchased' });

    // The API still knows the ended run; the event goes to a new one before the answer (a closed run
    // would answer the query with the bought cart, and the relay waits 10 s).
    expect((await shop(session, id, [{ product_id: '102', price: 39.9 }])).status).toBe(202);
    const cart = await handle.query(cartQuery);
    expect(cart.cartId).not.toBe(bought.cartId);
    expect(cart.items).toEqual([{ productId: '102', quantity: 1, unitPrice: 39.9 }]);
    const mail = await mailOf(session);
    expect(mail.headers['x-cartflow-cart']).toBe(cart.cartId);
  });

  it('attributes a purchase after the e-mail as recovered revenue, and the purchase cancels the reminder', async () => {
    const id = customer();
    await seedShop(stack.deps.shop, [{ id }]);
    const session = `back-${crypto.randomUUID()}`;
    await shop(session, id, [{ product_id: '102', price: 39.9, quantity: 2 }]);
    await mailOf(session);
    await shop(session, id, [{ event_type: 'purchase', product_id: '102', price: 39.9, quantity: 2 }]);
    const result = await stack.client.workflow.getHandle(cartWorkflowId(session)).result();
    expect(result.outcome).toBe('recovered');
    expect(await cartSessionOf(session)).toEqual([
      {
        outcome: 'recovered',
        item_count: 1,
        units: 2,
        cart_value: 79.8,
        purchase_value: 79.8,
        abandoned: true,
      },
    ]);
    expect(await decisionsOf(session)).toEqual([
      expect.objectContaining({
        kind: 'abandoned',
        decision: 'sent',
        converted: true,
        recovered_revenue: 79.8,
      }),
    ]);
    await sleep(REMINDER_MS);
    expect(stack.mailsFor(session).map((m) => m.headers['x-cartflow-kind'])).toEqual(['abandoned']);
  });

  it('offers a percentage off to high-value carts', async () => {
    const id = customer();
    await seedShop(stack.deps.shop, [{ id }]);
    const session = `dear-${crypto.randomUUID()}`;
    await shop(session, id, [{ product_id: '103', price: 249 }]);
    const mail = await mailOf(session);
    expect(mail.text).toMatch(/10% off your order with the code SAVE10-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}/);
    expect((await decisionsOf(session))[0]).toMatchObject({ offer_type: 'percent_off', offer_value: '10' });
  });

  describe('the shop rules', () => {
    it.each([
      ['without marketing consent', { consent: false }, 'no_consent'],
      ['without an e-mail address', { email: null }, 'no_email'],
    ])('e-mails no customer %s', async (_name, record, reason) => {
      const id = customer();
      await seedShop(stack.deps.shop, [{ id, ...record }]);
      const session = `rule-${crypto.randomUUID()}`;
      await shop(session, id, [{ product_id: '101' }]);
      expect(await decided(session)).toEqual([expect.objectContaining({ decision: 'suppressed', reason })]);
      await sleep(500);
      expect(stack.mailsFor(session)).toHaveLength(0);
    });

    it('e-mails no shopper who is not a customer of the shop', async () => {
      const session = `guest-${crypto.randomUUID()}`;
      await shop(session, 'guest-7', [{ product_id: '101', email: 'guest7@example.test' }]);
      expect(await decided(session)).toEqual([
        expect.objectContaining({ decision: 'suppressed', reason: 'unknown_customer' }),
      ]);
      expect(stack.mailsFor(session)).toHaveLength(0);
    });

    it("uses a signed-in shopper's address from the events when the shop's record has none", async () => {
      const id = customer();
      await seedShop(stack.deps.shop, [{ id, email: null }]);
      const session = `signed-in-${crypto.randomUUID()}`;
      await shop(session, id, [{ product_id: '101', email: `signed.in.${id}@example.test` }]);
      expect((await mailOf(session)).to).toEqual([`signed.in.${id}@example.test`]);
    });

    it('holds out the holdout group: a decision, no e-mail', async () => {
      const id = customerInHoldout(0.1, 5000);
      await seedShop(stack.deps.shop, [{ id }]);
      const session = `held-${crypto.randomUUID()}`;
      await shop(session, id, [{ product_id: '101' }]);
      expect(await decided(session)).toEqual([
        expect.objectContaining({ decision: 'held_out', reason: 'holdout' }),
      ]);
      await sleep(500);
      expect(stack.mailsFor(session)).toHaveLength(0);
    });

    it('sends at most one retargeting e-mail per customer in the cooldown, even when two carts expire together', async () => {
      const id = customer();
      await seedShop(stack.deps.shop, [{ id }]);
      const sessions = [0, 1, 2].map((i) => `twin-${i}-${crypto.randomUUID()}`);
      await Promise.all(sessions.map((session) => shop(session, id, [{ product_id: '101' }])));
      const decisions = await Promise.all(sessions.map((session) => decided(session)));
      const kinds = decisions.map(([d]) => `${d.decision}/${d.reason}`).sort();
      expect(kinds).toEqual(['sent/null', 'suppressed/frequency_cap', 'suppressed/frequency_cap']);
      await sleep(1000);
      expect(
        sessions.flatMap((session) =>
          stack.mailsFor(session).filter((m) => m.headers['x-cartflow-kind'] === 'abandoned'),
        ),
      ).toHaveLength(1);
      const later = `twin-later-${crypto.randomUUID()}`;
      await shop(later, id, [{ product_id: '102' }]);
      expect(await decided(later)).toEqual([
        expect.objectContaining({ decision: 'suppressed', reason: 'frequency_cap' }),
      ]);
    });

    it('unsubscribes with the link in the e-mail, and respects it at the next cart', async () => {
      const id = customer();
      await seedShop(stack.deps.shop, [{ id }]);
      const session = `unsub-${crypto.randomUUID()}`;
      await shop(session, id, [{ product_id: '101' }]);
      const mail: StoredMail = await mailOf(session);
      const link = /Unsubscribe: (\S+)/.exec(mail.text)![1].replace('http://shop.test', stack.url);
      expect(mail.headers.list).toContain('unsubscribe');

      const forged = await fetch(link.replace(/token=v1\.[0-9a-z]+\./, 'token=v1.1.'));
      expect(forged.status).toBe(400);
      const page = await fetch(link);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('You are unsubscribed');
      const oneClick = await fetch(link, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      });
      expect(oneClick.status).toBe(200);
      const { rows } = await stack.deps.warehouse.query(
        `select customer_id, email, reason from ops.email_suppressions where customer_id = $1`,
        [id],
      );
      expect(rows).toEqual([{ customer_id: id, email: `shopper${id}@example.test`, reason: 'unsubscribed' }]);

      const next = `unsub-next-${crypto.randomUUID()}`;
      await shop(next, id, [{ product_id: '102' }]);
      expect(await decided(next)).toEqual([
        expect.objectContaining({ decision: 'suppressed', reason: 'unsubscribed' }),
      ]);
    });
  });

  it('continues as new on a long cart, carrying its items and its timer deadline', async () => {
    const id = customer();
    await seedShop(stack.deps.shop, [{ id }]);
    const session = `long-${crypto.randomUUID()}`;
    const settings = { ...cartSettingsFrom(stack.deps.config), continueAsNewAfterEvents: 3 };
    const events = ['101', '102', '101'].map((productId) =>
      makeEvent({ user_session: session, user_id: String(id), product_id: productId }),
    );
    let firstRunId = '';
    for (const event of events) {
      const handle = await stack.client.workflow.signalWithStart(CartWorkflow, {
        workflowId: cartWorkflowId(session),
        taskQueue: stack.taskQueue,
        args: [{ userSession: session, settings }],
        signal: cartEventsSignal,
        signalArgs: [
          {
            events: [
              {
                eventId: String(event.event_id),
                eventTime: String(event.event_time),
                eventType: 'cart',
                userId: String(id),
                productId: String(event.product_id),
                price: 12.5,
                quantity: 1,
              },
            ],
          },
        ],
      });
      firstRunId ||= handle.signaledRunId;
      await sleep(300);
    }
    const handle = stack.client.workflow.getHandle(cartWorkflowId(session));
    const latest = await handle.describe();
    expect(latest.runId).not.toBe(firstRunId);
    const cart = await handle.query(cartQuery);
    expect(cart.items).toEqual([
      { productId: '101', quantity: 2, unitPrice: 12.5 },
      { productId: '102', quantity: 1, unitPrice: 12.5 },
    ]);
    expect(cart.cartId).toBe(`${session}:${firstRunId.slice(0, 8)}`);

    const firstRun = await stack.client.workflow
      .getHandle(cartWorkflowId(session), firstRunId)
      .fetchHistory();
    expect(firstRun.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    // The new run's timer waits for what is left of the carried deadline, not a fresh idle period.
    const newRun = await handle.fetchHistory();
    const timer = newRun.events?.find((e) => e.timerStartedEventAttributes)?.timerStartedEventAttributes;
    const timerMs =
      Number(timer?.startToFireTimeout?.seconds ?? 0) * 1000 + (timer?.startToFireTimeout?.nanos ?? 0) / 1e6;
    expect(timerMs).toBeGreaterThan(0);
    expect(timerMs).toBeLessThan(IDLE_MS);

    const mail = await mailOf(session);
    expect(mail.headers['x-cartflow-cart']).toBe(cart.cartId);
    expect(stack.mailsFor(session).filter((m) => m.headers['x-cartflow-kind'] === 'abandoned')).toHaveLength(
      1,
    );
  });

  it('shows the cart at the link in the e-mail and as JSON', async () => {
    const id = customer();
    await seedShop(stack.deps.shop, [{ id }]);
    const session = `page-${crypto.randomUUID()}`;
    await shop(session, id, [{ product_id: '102', price: 39.9, quantity: 3 }]);
    const json = await fetch(`${stack.url}/v1/carts/${session}`);
    expect(json.status).toBe(200);
    expect(await json.json()).toMatchObject({
      stage: 'cart',
      value: 119.7,
      items: [{ productId: '102', quantity: 3 }],
    });
    const page = await fetch(`${stack.url}/cart/${session}?code=SHIP-TEST`);
    expect(await page.text()).toContain('119.70');
    expect((await fetch(`${stack.url}/v1/carts/no-such-${session}`)).status).toBe(404);
  });
});
