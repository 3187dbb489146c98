import crypto from 'node:crypto';
import { createLogger } from '../../lib/log';
import { cartWorkflowId } from '../../contracts/names';
import { cartSettingsFrom, createCartForwarder } from '../../server/cart-forwarder';
import type { IncomingEvent } from '../../server/events-schema';
import { storeEvents } from '../../server/events-store';
import { cartQuery } from '../../workflows';
import { makeEvent, startCartStack, waitFor, type CartStack } from '../helpers/carts';

/**
 * The forwarder's coalescing: a cart's events that arrive together (within the window, or while the
 * cart's signal is in flight) reach the cart in one signal, and the cart ends up exactly as if each
 * request had been its own signal.
 */
describe('Coalescing a cart’s events into one signal, against real Postgres and Temporal', () => {
  let stack: CartStack;

  beforeAll(async () => {
    // A long idle time: these carts must not expire while the file runs.
    stack = await startCartStack('cart_coalescing', { CARTFLOW_SESSION_IDLE: '1h' });
  });
  afterAll(async () => stack?.stop());

  const forwarder = (coalesceMs: number) =>
    createCartForwarder({
      client: stack.client,
      warehouse: stack.deps.warehouse,
      taskQueue: stack.taskQueue,
      settings: cartSettingsFrom(stack.deps.config),
      logger: createLogger('error'),
      coalesceMs,
    });
  const signalsOf = async (session: string) => {
    const history = await stack.client.workflow.getHandle(cartWorkflowId(session)).fetchHistory();
    return (history.events ?? []).filter((event) => event.workflowExecutionSignaledEventAttributes).length;
  };
  const cartOf = async (session: string) => {
    const view = await stack.client.workflow.getHandle(cartWorkflowId(session)).query(cartQuery);
    const { items, itemCount, units, value, stage, eventCount } = view;
    return { items, itemCount, units, value, stage, eventCount };
  };
  const unforwarded = async (session: string) =>
    (
      await stack.deps.warehouse.query<{ n: number }>(
        `select count(*)::int as n from staging.raw_event_ids where user_session = $1 and forwarded_at is null`,
        [session],
      )
    ).rows[0].n;
  /** The requests of one shopper: two products, a view, one unit taken out again. */
  const requestsOf = (session: string) => [
    [
      makeEvent({ user_session: session, product_id: '101', price: 12.5, quantity: 2 }),
      makeEvent({ user_session: session, product_id: '102', price: 39.9 }),
    ],
    [makeEvent({ user_session: session, event_type: 'view', product_id: '103', price: 249 })],
    [makeEvent({ user_session: session, event_type: 'remove_from_cart', product_id: '101', price: 12.5 })],
  ];
  const store = async (events: Record<string, unknown>[]) =>
    (await storeEvents(stack.deps.warehouse, events as unknown as IncomingEvent[])).stored;

  it('delivers requests that arrive within the window in one signal, the cart the same as one request per signal', async () => {
    const [coalesced, reference] = [`co-${crypto.randomUUID()}`, `ref-${crypto.randomUUID()}`];
    const windowed = forwarder(500);
    const plain = forwarder(0);

    // The reference cart: each request signalled on its own, one after the other.
    for (const events of requestsOf(reference)) {
      expect(await plain.forward(await store(events))).toEqual({ forwarded: events.length, deferred: 0 });
    }
    // The same requests within the window: forwarded together, each answered once its events are delivered.
    const stored = await Promise.all(requestsOf(coalesced).map(store));
    const results = await Promise.all(stored.map((events) => windowed.forward(events)));
    expect(results).toEqual(stored.map((events) => ({ forwarded: events.length, deferred: 0 })));

    await waitFor('both carts to apply every event', async () =>
      (await cartOf(coalesced)).eventCount === 4 && (await cartOf(reference)).eventCount === 4
        ? true
        : undefined,
    );
    expect(await signalsOf(reference)).toBe(3);
    expect(await signalsOf(coalesced)).toBe(1);
    const cart = await cartOf(coalesced);
    expect(cart).toEqual(await cartOf(reference));
    expect(cart).toEqual({
      items: [
        { productId: '101', quantity: 1, unitPrice: 12.5 },
        { productId: '102', quantity: 1, unitPrice: 39.9 },
      ],
      itemCount: 2,
      units: 2,
      value: 52.4,
      stage: 'cart',
      eventCount: 4,
    });
    await waitFor('the coalesced events to be marked delivered', async () =>
      (await unforwarded(coalesced)) === 0 ? true : undefined,
    );
  });

  it('without a window, has the requests that arrive while a cart’s signal is in flight ride the next signal together', async () => {
    const session = `inflight-${crypto.randomUUID()}`;
    const plain = forwarder(0);
    const stored = await Promise.all(requestsOf(session).map(store));
    // The first request's signal leaves at once; the other two arrive while it is in flight.
    const results = await Promise.all(stored.map((events) => plain.forward(events)));
    expect(results).toEqual(stored.map((events) => ({ forwarded: events.length, deferred: 0 })));
    // A signal that arrives while the cart's workflow task runs is written to the history when that
    // task completes: wait for the cart to have applied all four events, then count.
    await waitFor('the cart to apply every event', async () =>
      (await cartOf(session)).eventCount === 4 ? true : undefined,
    );
    expect(await signalsOf(session)).toBe(2);
    expect((await cartOf(session)).items).toEqual([
      { productId: '101', quantity: 1, unitPrice: 12.5 },
      { productId: '102', quantity: 1, unitPrice: 39.9 },
    ]);
  });

  it('signals nothing for views of a session with no open cart, and marks them delivered', async () => {
    const session = `views-${crypto.randomUUID()}`;
    const views = await store([
      makeEvent({ user_session: session, event_type: 'view', product_id: '101' }),
      makeEvent({ user_session: session, event_type: 'view', product_id: '102' }),
    ]);
    expect(await forwarder(0).forward(views)).toEqual({ forwarded: 2, deferred: 0 });
    await waitFor('the views to be marked delivered', async () =>
      (await unforwarded(session)) === 0 ? true : undefined,
    );
    await expect(stack.client.workflow.getHandle(cartWorkflowId(session)).describe()).rejects.toThrow(
      /not found/i,
    );
  });
});
