import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import crypto from 'node:crypto';
import { createLogger } from '../../lib/log';
import { cartWorkflowId } from '../../contracts/names';
import { createCartForwarder, cartSettingsFrom, startEventRelay } from '../../server/cart-forwarder';
import { buildServer } from '../../server/app';
import { cartQuery } from '../../workflows';
import { makeEvent, startCartStack, TEST_TOKEN, waitFor, type CartStack } from '../helpers/carts';

describe('POST /v1/events against real Postgres and a real Temporal server', () => {
  let stack: CartStack;

  beforeAll(async () => {
    // A long idle time: these carts must not expire (and e-mail) while the file runs.
    stack = await startCartStack('events_api', { CARTFLOW_SESSION_IDLE: '1h' });
  });
  afterAll(async () => stack?.stop());

  const countStored = async (sessions: string[]) => {
    const { rows } = await stack.deps.warehouse.query<{ events: number; ids: number }>(
      `select (select count(*)::int from staging.raw_events where user_session = any($1)) as events,
              (select count(*)::int from staging.raw_event_ids where user_session = any($1)) as ids`,
      [sessions],
    );
    return rows[0];
  };
  const workflowExists = async (session: string) => {
    try {
      await stack.client.workflow.getHandle(cartWorkflowId(session)).describe();
      return true;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  };
  const signalsOf = async (session: string) => {
    const history = await stack.client.workflow.getHandle(cartWorkflowId(session)).fetchHistory();
    return (history.events ?? []).filter((event) => event.workflowExecutionSignaledEventAttributes).length;
  };

  it('stores a batch, forwards each cart its events in one signal, and answers 202 with the counts', async () => {
    const [a, b] = [`a-${crypto.randomUUID()}`, `b-${crypto.randomUUID()}`];
    const events = [
      makeEvent({ user_session: a, product_id: '101', price: 12.5, quantity: 2 }),
      makeEvent({ user_session: b, event_type: 'view', product_id: '103', price: 249 }),
      makeEvent({ user_session: a, product_id: '102', price: 39.9, quantity: undefined }),
      makeEvent({ user_session: b, product_id: '103', price: 249, category_id: '2053013552326770905' }),
    ];
    const response = await stack.post({ events });
    expect(response).toEqual({ status: 202, body: { accepted: 4, duplicates: 0 } });
    expect(await countStored([a, b])).toEqual({ events: 4, ids: 4 });

    // Delivered events are marked in the outbox together, a moment after the answer.
    await waitFor('the delivered events to be marked', async () => {
      const { rows } = await stack.deps.warehouse.query(
        `select count(*)::int as unforwarded from staging.raw_event_ids where user_session = any($1) and forwarded_at is null`,
        [[a, b]],
      );
      return rows[0].unforwarded === 0 ? true : undefined;
    });
    const cartA = await stack.client.workflow.getHandle(cartWorkflowId(a)).query(cartQuery);
    expect(cartA.items).toEqual([
      { productId: '101', quantity: 2, unitPrice: 12.5 },
      { productId: '102', quantity: 1, unitPrice: 39.9 },
    ]);
    expect(cartA.stage).toBe('cart');
    // The cart knows when the server accepted its events, to the microsecond the ledger holds.
    const ledger = await stack.deps.warehouse.query<{ received: string }>(
      `select to_char(max(received_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as received
         from staging.raw_event_ids where user_session = $1`,
      [a],
    );
    expect(cartA.lastReceivedAt).toBe(ledger.rows[0].received);
    expect(await signalsOf(a)).toBe(1);
    expect(await signalsOf(b)).toBe(1);
  });

  it('begins a cart with its first cart event: views alone are stored and delivered, but start no workflow', async () => {
    const session = `views-${crypto.randomUUID()}`;
    const unforwarded = async () =>
      (
        await stack.deps.warehouse.query<{ n: number }>(
          `select count(*)::int as n from staging.raw_event_ids where user_session = $1 and forwarded_at is null`,
          [session],
        )
      ).rows[0].n;
    const views = [
      makeEvent({ user_session: session, event_type: 'view', product_id: '101' }),
      makeEvent({ user_session: session, event_type: 'view', product_id: '102' }),
    ];
    expect(await stack.post({ events: views })).toEqual({
      status: 202,
      body: { accepted: 2, duplicates: 0 },
    });
    expect(await countStored([session])).toEqual({ events: 2, ids: 2 });
    await waitFor('the views to be marked delivered', async () =>
      (await unforwarded()) === 0 ? true : undefined,
    );
    expect(await workflowExists(session)).toBe(false);

    await stack.post({ events: [makeEvent({ user_session: session, product_id: '101', quantity: 2 })] });
    await stack.post({
      events: [makeEvent({ user_session: session, event_type: 'view', product_id: '103' })],
    });
    await waitFor('the cart event and the later view to be delivered', async () =>
      (await unforwarded()) === 0 ? true : undefined,
    );
    // The cart holds its item; the view after it reached the open cart as a signal of its own.
    const cart = await stack.client.workflow.getHandle(cartWorkflowId(session)).query(cartQuery);
    expect(cart.items).toEqual([{ productId: '101', quantity: 2, unitPrice: expect.any(Number) }]);
    expect(cart.stage).toBe('cart');
    expect(await signalsOf(session)).toBe(2);
  });

  it('is idempotent by event_id: a re-sent batch, a re-used id with another time, or a repeat within a batch change nothing', async () => {
    const session = `dup-${crypto.randomUUID()}`;
    const first = makeEvent({ user_session: session, quantity: 3 });
    const second = makeEvent({ user_session: session, product_id: '102' });
    expect(await stack.post({ events: [first, second] })).toEqual({
      status: 202,
      body: { accepted: 2, duplicates: 0 },
    });
    expect(await stack.post({ events: [first, second] })).toEqual({
      status: 202,
      body: { accepted: 0, duplicates: 2 },
    });
    // The same id on another day would land in another partition: the id ledger still catches it.
    const moved = { ...first, event_time: '2026-01-05T08:00:00+01:00', quantity: 9 };
    const third = makeEvent({ user_session: session, product_id: '103' });
    expect(await stack.post({ events: [moved, third, third] })).toEqual({
      status: 202,
      body: { accepted: 1, duplicates: 2 },
    });
    expect(await countStored([session])).toEqual({ events: 3, ids: 3 });
    const cart = await stack.client.workflow.getHandle(cartWorkflowId(session)).query(cartQuery);
    expect(cart.items.map((item) => [item.productId, item.quantity])).toEqual([
      ['101', 3],
      ['102', 1],
      ['103', 1],
    ]);
  });

  it('partitions raw events by day, creating partitions on demand even when requests race for a new day', async () => {
    const session = `days-${crypto.randomUUID()}`;
    const days = ['2019-10-01T00:00:00Z', '2019-10-01T23:59:59+00:00', '2019-10-02T00:30:00+02:00'];
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        stack.post({
          events: [
            makeEvent({ user_session: `${session}-${i}`, event_type: 'view', event_time: days[i % 3] }),
          ],
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(202));
    const { rows } = await stack.deps.warehouse.query<{ partition: string; n: number }>(
      `select tableoid::regclass::text as partition, count(*)::int as n
         from staging.raw_events where user_session like $1 group by 1 order by 1`,
      [`${session}-%`],
    );
    // 2019-10-02T00:30+02:00 is 2019-10-01T22:30Z: partitions are UTC days.
    expect(rows).toEqual([{ partition: 'staging.raw_events_20191001', n: 8 }]);
  });

  it("creates a new day's partition exactly once when many connections race for it", async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        stack.deps.warehouse.query<{ created: boolean }>(
          `select staging.ensure_raw_events_partition('2021-03-04'::date) as created`,
        ),
      ),
    );
    expect(results.map((r) => r.rows[0].created).filter(Boolean)).toHaveLength(1);
  });

  it('recreates a partition that went away behind the server (an archive detached it) and stores the batch', async () => {
    const session = `gone-${crypto.randomUUID()}`;
    const time = '2020-02-02T12:00:00Z';
    expect(
      (await stack.post({ events: [makeEvent({ user_session: `${session}-a`, event_time: time })] })).status,
    ).toBe(202);
    await stack.deps.warehouse.query(
      `alter table staging.raw_events detach partition staging.raw_events_20200202`,
    );
    await stack.deps.warehouse.query(`alter table staging.raw_events_20200202 rename to archived_20200202`);
    const response = await stack.post({
      events: [makeEvent({ user_session: `${session}-b`, event_time: time })],
    });
    expect(response).toEqual({ status: 202, body: { accepted: 1, duplicates: 0 } });
    const { rows } = await stack.deps.warehouse.query(
      `select tableoid::regclass::text as partition from staging.raw_events where user_session = $1`,
      [`${session}-b`],
    );
    expect(rows).toEqual([{ partition: 'staging.raw_events_20200202' }]);
  });

  describe('refuses invalid events with a clear error, storing nothing and touching no workflow', () => {
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      ['a price as a string', { price: '12.5' }, 'price', /must be a number/],
      ['a fractional quantity', { quantity: 1.5 }, 'quantity', /must be an integer/],
      ['a numeric user_id', { user_id: 42 }, 'user_id', /must be a string/],
      ['an epoch event_time', { event_time: 1764000000 }, 'event_time', /must be a string/],
      ['a missing event_id', { event_id: undefined }, 'event_id', /is required/],
      ['a missing user_session', { user_session: undefined }, 'user_session', /is required/],
      ['a missing price', { price: undefined }, 'price', /is required/],
      ['a negative quantity', { quantity: -1 }, 'quantity', /must be at least 1/],
      ['a zero quantity', { quantity: 0 }, 'quantity', /must be at least 1/],
      ['a negative price', { price: -0.01 }, 'price', /must be at least 0/],
      [
        'an unknown event type',
        { event_type: 'checkout' },
        'event_type',
        /must be one of view, cart, remove_from_cart, purchase/,
      ],
      ['an event_id that is no UUID', { event_id: 'evt-1' }, 'event_id', /must be a UUID/],
      [
        'a time without offset',
        { event_time: '2026-11-23T10:00:00' },
        'event_time',
        /ISO 8601 date-time with an offset/,
      ],
      ['an impossible date', { event_time: '2026-02-30T10:00:00Z' }, 'event_time', /ISO 8601/],
      ['a malformed e-mail', { email: 'not-an-address' }, 'email', /must be an e-mail address or null/],
      ['an empty product_id', { product_id: '' }, 'product_id', /must not be empty/],
      [
        'a 10 kB user_session',
        { user_session: 'x'.repeat(10_000) },
        'user_session',
        /at most 200 characters/,
      ],
    ];

    it.each(cases)('%s: 422 naming the event and the field', async (_name, overrides, field, message) => {
      const session = `bad-${crypto.randomUUID()}`;
      const valid = makeEvent({ user_session: session });
      const invalid = makeEvent({ user_session: session, ...overrides });
      const response = await stack.post({ events: [valid, invalid] });
      expect(response.status).toBe(422);
      expect(response.body.error).toBe('invalid_events');
      expect(response.body.message).toMatch(/1 of 2 events are invalid; nothing of the batch was stored/);
      const problems = response.body.problems as { index: number; field: string; message: string }[];
      expect(problems).toEqual([{ index: 1, field, message: expect.stringMatching(message) }]);
      expect(await countStored([session, String(invalid.user_session)])).toEqual({ events: 0, ids: 0 });
      expect(await workflowExists(session)).toBe(false);
    });

    it('lists every problem of every event at once', async () => {
      const session = `many-${crypto.randomUUID()}`;
      const response = await stack.post({
        events: [
          makeEvent({ user_session: session, price: 'free', quantity: -2 }),
          makeEvent({ user_session: session }),
          'not an event',
          makeEvent({ user_session: session, event_type: 'wishlist', event_id: undefined }),
        ],
      });
      expect(response.status).toBe(422);
      expect(response.body.problems).toEqual([
        { index: 0, field: 'price', message: 'must be a number' },
        { index: 0, field: 'quantity', message: 'must be at least 1' },
        { index: 2, field: null, message: 'an event must be a JSON object' },
        { index: 3, field: 'event_id', message: 'is required' },
        { index: 3, field: 'event_type', message: 'must be one of view, cart, remove_from_cart, purchase' },
      ]);
      expect(await countStored([session])).toEqual({ events: 0, ids: 0 });
      expect(await workflowExists(session)).toBe(false);
    });

    it.each([
      ['a body that is not JSON', '{"events": [', /not JSON/],
      ['an empty body', '', /not JSON/],
      ['a JSON array', '[]', /must be a JSON object/],
      ['events that are not an array', '{"events": {"a": 1}}', /must be an array of events/],
      ['no events', '{"events": []}', /at least one event/],
      ['no events field', '{"event": []}', /must be a JSON object \{"events": \[\.\.\.\]\}/],
    ])('%s: 400', async (_name, body, message) => {
      const response = await stack.post(body);
      expect(response.status).toBe(400);
      expect(response.body.error).toBe('bad_request');
      expect(response.body.message).toMatch(message);
      expect(response.body.message).toMatch(/Nothing was stored/);
    });

    it('more than 1,000 events: 400, nothing stored', async () => {
      const session = `big-${crypto.randomUUID()}`;
      const events = Array.from({ length: 1001 }, () =>
        makeEvent({ user_session: session, event_type: 'view' }),
      );
      const response = await stack.post({ events });
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(/holds 1001 events; a batch holds at most 1000/);
      expect(await countStored([session])).toEqual({ events: 0, ids: 0 });
      expect(await workflowExists(session)).toBe(false);
    });

    it('a 10 MB body: 413, nothing stored', async () => {
      const session = `huge-${crypto.randomUUID()}`;
      const event = makeEvent({ user_session: session, brand: 'b'.repeat(10 * 1024 * 1024) });
      const response = await stack.post({ events: [event] });
      expect(response.status).toBe(413);
      expect(response.body.error).toBe('payload_too_large');
      expect(response.body.message).toMatch(/larger than 4 MiB/);
      expect(await countStored([session])).toEqual({ events: 0, ids: 0 });
      expect(await workflowExists(session)).toBe(false);
    });

    it.each([
      ['a wrong token', { authorization: 'Bearer not-the-token' }, /token is wrong/],
      ['no Authorization header', {}, /is missing/],
      [
        'a Basic credential',
        { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
        /is missing/,
      ],
      ['the token with a suffix', { authorization: `Bearer ${TEST_TOKEN}x` }, /token is wrong/],
    ])('%s: 401, nothing stored', async (_name, headers, message) => {
      const session = `auth-${crypto.randomUUID()}`;
      const response = await fetch(`${stack.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ events: [makeEvent({ user_session: session })] }),
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await response.json()) as { message: string }).message).toMatch(message);
      expect(await countStored([session])).toEqual({ events: 0, ids: 0 });
      expect(await workflowExists(session)).toBe(false);
    });

    it('a 10 MB body with a wrong token: 401 before the body is read', async () => {
      const response = await stack.post(
        { events: [makeEvent({ brand: 'b'.repeat(10 * 1024 * 1024) })] },
        'wrong',
      );
      expect(response.status).toBe(401);
    });
  });

  it('accepts the events when Temporal is unreachable, and the outbox relay forwards them once it is back', async () => {
    const session = `outbox-${crypto.randomUUID()}`;
    // A server whose Temporal is a closed port: storing works, forwarding cannot.
    const deadConnection = Connection.lazy({ address: '127.0.0.1:1' });
    const deadClient = new Client({ connection: deadConnection, namespace: 'default' });
    const cut = buildServer({
      warehouse: stack.deps.warehouse,
      shop: stack.deps.shop,
      temporal: deadClient,
      smtpUrl: stack.smtpUrl,
      carts: {
        config: stack.deps.config,
        ingestToken: TEST_TOKEN,
        logger: createLogger('error'),
        taskQueue: stack.taskQueue,
        relayIntervalMs: 0,
      },
    });
    await cut.listen({ port: 0, host: '127.0.0.1' });
    try {
      const address = cut.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const started = Date.now();
      const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          events: [
            makeEvent({ user_session: session, quantity: 2 }),
            makeEvent({ user_session: session, product_id: '102' }),
          ],
        }),
      });
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ accepted: 2, duplicates: 0 });
      expect(response.headers.get('x-cartflow-deferred')).toBe('2');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await cut.close();
      await deadConnection.close();
    }
    const unforwarded = async () =>
      (
        await stack.deps.warehouse.query(
          `select count(*)::int as n from staging.raw_event_ids where user_session = $1 and forwarded_at is null`,
          [session],
        )
      ).rows[0].n;
    expect(await unforwarded()).toBe(2);
    expect(await workflowExists(session)).toBe(false);

    // Temporal is "back": a relay with a working client delivers the outbox.
    const forwarder = createCartForwarder({
      client: stack.client,
      warehouse: stack.deps.warehouse,
      taskQueue: stack.taskQueue,
      settings: cartSettingsFrom(stack.deps.config),
      logger: createLogger('error'),
    });
    const relay = startEventRelay({
      warehouse: stack.deps.warehouse,
      forwarder,
      logger: createLogger('error'),
      intervalMs: 60_000,
      minAgeMs: 0,
    });
    try {
      expect(await relay.runOnce()).toBeGreaterThanOrEqual(2);
    } finally {
      await relay.stop();
    }
    expect(await unforwarded()).toBe(0);
    const cart = await stack.client.workflow.getHandle(cartWorkflowId(session)).query(cartQuery);
    expect(cart.items).toEqual([
      { productId: '101', quantity: 2, unitPrice: 12.5 },
      { productId: '102', quantity: 1, unitPrice: 12.5 },
    ]);
  });
});
