import {
  applyEvents,
  cartLines,
  cartTotals,
  chooseOffer,
  describeCart,
  newCartState,
  nextDeadline,
  microsecondKey,
  REMEMBERED_EVENT_IDS,
  startingStage,
  type CartEvent,
} from '../../contracts/cart-state';
import { customerIdOf, holdoutPosition, isInHoldout, messageIdFor } from '../../carts/rules';

let sequence = 0;
function event(overrides: Partial<CartEvent>): CartEvent {
  sequence += 1;
  return {
    eventId: `e-${sequence}`,
    eventTime: new Date(Date.UTC(2026, 10, 23, 10, 0, sequence)).toISOString(),
    eventType: 'cart',
    userId: '42',
    productId: 'p1',
    price: 10,
    quantity: 1,
    ...overrides,
  };
}

describe('the cart as pure data', () => {
  it('adds, removes and prices items at their latest price', () => {
    const state = newCartState('s1', 's1:abc', undefined);
    applyEvents(state, [
      event({ productId: 'p1', quantity: 2, price: 10 }),
      event({ productId: 'p2', quantity: 1, price: 5.5 }),
      event({ eventType: 'view', productId: 'p3', price: 99 }),
      event({ productId: 'p1', quantity: 1, price: 9 }),
      event({ eventType: 'remove_from_cart', productId: 'p2', quantity: 1, price: 5.5 }),
    ]);
    expect(cartLines(state)).toEqual([{ productId: 'p1', quantity: 3, unitPrice: 9 }]);
    expect(cartTotals(cartLines(state))).toEqual({ itemCount: 1, units: 3, value: 27 });
    expect(state.eventCount).toBe(5);
  });

  it('gives the same cart whatever order the events arrive in (a late batch from the relay)', () => {
    const events = [
      event({ productId: 'p1', quantity: 2, price: 10 }),
      event({ eventType: 'remove_from_cart', productId: 'p1', quantity: 1, price: 10 }),
      event({ productId: 'p2', quantity: 1, price: 4 }),
      event({ productId: 'p2', quantity: 1, price: 3 }),
    ];
    const inOrder = newCartState('s', 's:1', undefined);
    applyEvents(inOrder, events);
    const reversed = newCartState('s', 's:1', undefined);
    applyEvents(reversed, [events[3], events[1]]);
    applyEvents(reversed, [events[2], events[0]]);
    expect(cartLines(reversed)).toEqual(cartLines(inOrder));
    expect(cartLines(inOrder)).toEqual([
      { productId: 'p1', quantity: 1, unitPrice: 10 },
      { productId: 'p2', quantity: 2, unitPrice: 3 },
    ]);
  });

  it('ignores an event delivered twice, and remembers a bounded number of ids', () => {
    const state = newCartState('s', 's:1', undefined);
    const once = event({ quantity: 1 });
    expect(applyEvents(state, [once, once]).applied).toBe(1);
    expect(applyEvents(state, [once]).applied).toBe(0);
    expect(cartLines(state)[0].quantity).toBe(1);
    applyEvents(
      state,
      Array.from({ length: REMEMBERED_EVENT_IDS + 10 }, () => event({ eventType: 'view' })),
    );
    expect(state.recentEventIds).toHaveLength(REMEMBERED_EVENT_IDS);
  });

  it('orders acceptance times to the microsecond, which Date.parse cannot', () => {
    const state = newCartState('s', 's:1', undefined);
    applyEvents(state, [event({ receivedAt: '2026-11-23T10:00:05.468999Z' })]);
    applyEvents(state, [event({ receivedAt: '2026-11-23T10:00:05.468001Z' })]);
    expect(state.lastReceivedAt).toBe('2026-11-23T10:00:05.468999Z');
    expect(microsecondKey('2026-11-23T10:00:05.468Z')).toBe('2026-11-23T10:00:05.468000Z');
    expect(microsecondKey('2026-11-23T11:00:05.468+01:00')).toBe('2026-11-23T10:00:05.468000Z');
  });

  it('remembers the latest acceptance time, whatever order the events come in', () => {
    const state = newCartState('s', 's:1', undefined);
    applyEvents(state, [
      event({ receivedAt: '2026-11-23T10:00:05.000Z' }),
      event({ receivedAt: '2026-11-23T10:00:09.000Z' }),
    ]);
    applyEvents(state, [event({ receivedAt: '2026-11-23T10:00:07.000Z' })]);
    expect(state.lastReceivedAt).toBe('2026-11-23T10:00:09.000Z');
    expect(newCartState('t', 't:1', undefined).lastReceivedAt).toBeNull();
  });

  it('adds up a purchase made of several purchase events', () => {
    const state = newCartState('s', 's:1', undefined);
    expect(applyEvents(state, [event({ quantity: 2, price: 10 })]).purchased).toBe(false);
    const result = applyEvents(state, [
      event({ eventType: 'purchase', productId: 'p1', quantity: 2, price: 10 }),
      event({ eventType: 'purchase', productId: 'p9', quantity: 1, price: 0.3 }),
    ]);
    expect(result.purchased).toBe(true);
    expect(state.purchase).toMatchObject({ value: 20.3, units: 3 });
  });

  it('gives the Stage and CartValue a cart starts with, as the workflow will find them from its first events', () => {
    expect(startingStage([event({ eventType: 'view' })])).toEqual({ stage: 'browsing', value: 0 });
    expect(
      startingStage([event({ eventType: 'view' }), event({ productId: 'p1', quantity: 2, price: 12.5 })]),
    ).toEqual({ stage: 'cart', value: 25 });
    expect(
      startingStage([event({ productId: 'p1' }), event({ eventType: 'remove_from_cart', productId: 'p1' })]),
    ).toEqual({ stage: 'browsing', value: 0 });
    expect(startingStage([event({ eventType: 'purchase', productId: 'p1' })]).stage).toBe('purchased');
  });

  it('offers free shipping by default and a percentage from the high-value threshold, with a code per cart', () => {
    const rules = { highValueThreshold: 200, highValuePercent: 10 };
    const cheap = chooseOffer(199.99, rules, 'a3f1c2d4e5b60718293a4b5c6d7e8f90');
    expect(cheap.type).toBe('free_shipping');
    expect(cheap.value).toBeNull();
    expect(cheap.code).toMatch(/^SHIP-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
    const dear = chooseOffer(200, rules, 'a3f1c2d4e5b60718293a4b5c6d7e8f90');
    expect(dear).toMatchObject({ type: 'percent_off', value: 10 });
    expect(dear.code).toMatch(/^SAVE10-/);
    const other = chooseOffer(199.99, rules, '0b1c2d3e4f5061728394a5b6c7d8e9f0');
    expect(other.code).not.toBe(cheap.code);
  });

  it('waits for the earliest pending deadline', () => {
    const state = newCartState('s', 's:1', undefined);
    expect(nextDeadline(state)).toBeNull();
    state.attributionEndsAt = 3000;
    state.reminderAt = 2000;
    expect(nextDeadline(state)).toBe(2000);
    state.idleDeadline = 1000;
    expect(nextDeadline(state)).toBe(1000);
  });

  it('describes a cart with ids and amounts only', () => {
    const state = newCartState('sess-9', 'sess-9:1', undefined);
    applyEvents(state, [event({ quantity: 2, price: 12.5, userId: '77' })]);
    state.stage = 'cart';
    expect(describeCart(state)).toBe('Cart sess-9 of customer 77: 1 item, 25.00; cart');
  });
});

describe('the shop rules that need no database', () => {
  it('puts about the configured share of customers in the holdout group, stably', () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => String(i + 1));
    const held = ids.filter((id) => isInHoldout(id, 0.1)).length / ids.length;
    expect(held).toBeGreaterThan(0.09);
    expect(held).toBeLessThan(0.11);
    expect(holdoutPosition('12345')).toBe(holdoutPosition('12345'));
    expect(ids.filter((id) => isInHoldout(id, 0)).length).toBe(0);
  });

  it('reads customer ids from user ids, and derives one Message-ID per send key', () => {
    expect(customerIdOf('00042')).toBe('42');
    expect(customerIdOf('guest-1')).toBeNull();
    expect(customerIdOf('')).toBeNull();
    const id = messageIdFor('s:1/abandoned', 'Shop <shop@shop.example>');
    expect(id).toMatch(/^<cart-[0-9a-f]{32}@shop\.example>$/);
    expect(messageIdFor('s:1/abandoned', 'shop@shop.example')).toBe(id);
    expect(messageIdFor('s:1/reminder', 'shop@shop.example')).not.toBe(id);
  });
});
