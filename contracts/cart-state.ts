/**
 * A cart as pure data and the pure functions over it: what the cart workflow keeps, how events
 * change it, and which offer it gets. No I/O and no clock: the workflow passes the time in.
 */

export type CartEventType = 'view' | 'cart' | 'remove_from_cart' | 'purchase';

/** One storefront event as the cart workflow receives it: the contract's fields, camel-cased, without e-mail. */
export interface CartEvent {
  eventId: string;
  eventTime: string;
  eventType: CartEventType;
  userId: string;
  productId: string;
  price: number;
  quantity: number;
  /**
   * When the server accepted the event (ISO, milliseconds). The idle time counts from here, so an
   * event that reaches the cart late (Temporal was slow) does not stretch the session.
   */
  receivedAt?: string;
}

/** What one signal carries: a request's accepted events of one cart, in the order the storefront sent them. */
export interface CartEventBatch {
  events: CartEvent[];
}

export interface CartLine {
  productId: string;
  quantity: number;
  unitPrice: number;
}

/**
 * - `browsing`: events but nothing in the cart yet;
 * - `cart`: items in the cart, the idle timer running;
 * - `abandoned`: the session expired with items in it; the e-mail was decided (and sent, held out or
 *   suppressed); waiting for a purchase, the reminder or the end of the attribution window;
 * - `purchased`: bought; the workflow ends once the session has been quiet for the idle time.
 */
export type CartStage = 'browsing' | 'cart' | 'abandoned' | 'purchased';

export interface Offer {
  type: 'free_shipping' | 'percent_off';
  /** The percentage for percent_off; null for free shipping. */
  value: number | null;
  code: string;
}

export type RetargetingDecision = 'pending' | 'sent' | 'held_out' | 'suppressed';

export interface CartState {
  userSession: string;
  /** The cart's key: the session plus the first run of this workflow chain (a session can have several carts). */
  cartId: string;
  /** The storefront's user_id of the latest event. */
  userId: string;
  stage: CartStage;
  /** Net units per product: added minus removed. Order-independent, so late events cannot corrupt it. */
  net: Record<string, number>;
  /** The latest unit price per product, with the event time it came from. */
  prices: Record<string, { price: number; at: string }>;
  firstEventAt: string;
  lastEventAt: string;
  /** The latest acceptance time of the events the cart has applied (ISO), or null if none carried one. */
  lastReceivedAt: string | null;
  eventCount: number;
  /** The ids of recent events, to ignore an event forwarded twice (the relay delivers at least once). */
  recentEventIds: string[];
  purchase: { at: string; value: number; units: number } | null;
  /** Workflow time (epoch ms) of the deadlines that can be pending; null when not pending. */
  idleDeadline: number | null;
  reminderAt: number | null;
  attributionEndsAt: number | null;
  abandonedAt: number | null;
  offer: Offer | null;
  decision: { decision: RetargetingDecision; reason: string | null } | null;
  reminder: { decision: RetargetingDecision; reason: string | null } | null;
}

/** How many event ids a cart remembers for de-duplication. */
export const REMEMBERED_EVENT_IDS = 2000;

export function newCartState(
  userSession: string,
  cartId: string,
  firstEvent: CartEvent | undefined,
): CartState {
  return {
    userSession,
    cartId,
    userId: firstEvent?.userId ?? '',
    stage: 'browsing',
    net: {},
    prices: {},
    firstEventAt: firstEvent?.eventTime ?? '',
    lastEventAt: firstEvent?.eventTime ?? '',
    lastReceivedAt: null,
    eventCount: 0,
    recentEventIds: [],
    purchase: null,
    idleDeadline: null,
    reminderAt: null,
    attributionEndsAt: null,
    abandonedAt: null,
    offer: null,
    decision: null,
    reminder: null,
  };
}

const roundCents = (amount: number) => Math.round(amount * 100) / 100;

/**
 * Applies events to the cart, ignoring ones it has seen; returns how many were new and whether any
 * was a purchase. Events are applied in event-time order, so a batch that arrives late still lands right.
 */
export function applyEvents(
  state: CartState,
  events: readonly CartEvent[],
): { applied: number; purchased: boolean } {
  const seen = new Set(state.recentEventIds);
  const fresh = events
    .filter((event) => {
      if (seen.has(event.eventId)) return false;
      seen.add(event.eventId);
      return true;
    })
    .sort((a, b) => Date.parse(a.eventTime) - Date.parse(b.eventTime));
  let purchased = false;
  for (const event of fresh) {
    state.recentEventIds.push(event.eventId);
    state.eventCount += 1;
    state.userId = event.userId;
    if (!state.firstEventAt || Date.parse(event.eventTime) < Date.parse(state.firstEventAt))
      state.firstEventAt = event.eventTime;
    if (!state.lastEventAt || Date.parse(event.eventTime) > Date.parse(state.lastEventAt))
      state.lastEventAt = event.eventTime;
    if (
      event.receivedAt !== undefined &&
      (state.lastReceivedAt === null ||
        microsecondKey(event.receivedAt) > microsecondKey(state.lastReceivedAt))
    )
      state.lastReceivedAt = event.receivedAt;
    const known = state.prices[event.productId];
    if (event.eventType !== 'view' && (!known || Date.parse(event.eventTime) >= Date.parse(known.at))) {
      state.prices[event.productId] = { price: event.price, at: event.eventTime };
    }
    switch (event.eventType) {
      case 'cart':
        state.net[event.productId] = (state.net[event.productId] ?? 0) + event.quantity;
        break;
      case 'remove_from_cart':
        state.net[event.productId] = (state.net[event.productId] ?? 0) - event.quantity;
        break;
      case 'purchase': {
        purchased = true;
        const purchase = state.purchase ?? { at: event.eventTime, value: 0, units: 0 };
        purchase.value = roundCents(purchase.value + event.price * event.quantity);
        purchase.units += event.quantity;
        if (Date.parse(event.eventTime) > Date.parse(purchase.at)) purchase.at = event.eventTime;
        state.purchase = purchase;
        break;
      }
      case 'view':
        break;
    }
  }
  if (state.recentEventIds.length > REMEMBERED_EVENT_IDS) {
    state.recentEventIds.splice(0, state.recentEventIds.length - REMEMBERED_EVENT_IDS);
  }
  return { applied: fresh.length, purchased };
}

/**
 * The Stage and CartValue of a cart whose first events these are, as the workflow will find them: the
 * server starts a cart showing them, so the cart's first workflow task has no search attributes to write.
 */
export function startingStage(events: readonly CartEvent[]): { stage: CartStage; value: number } {
  const state = newCartState('', '', undefined);
  const { purchased } = applyEvents(state, events);
  return {
    stage: purchased ? 'purchased' : openStage(state),
    value: cartTotals(cartLines(state)).value,
  };
}

/** The stage of a cart not bought or abandoned: `cart` while it holds an item, else `browsing`. */
export function openStage(state: CartState): 'cart' | 'browsing' {
  return cartLines(state).length > 0 ? 'cart' : 'browsing';
}

/**
 * An ISO time as a string that sorts like the time, to the microsecond: the server sends acceptance
 * times with six decimals, which Date.parse would cut to milliseconds.
 */
export function microsecondKey(iso: string): string {
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(iso)) return iso;
  return new Date(iso).toISOString().replace('Z', '000Z');
}

/** The cart's lines: products with a positive net quantity, at their latest price, in product order. */
export function cartLines(state: CartState): CartLine[] {
  return Object.entries(state.net)
    .filter(([, quantity]) => quantity > 0)
    .map(([productId, quantity]) => ({ productId, quantity, unitPrice: state.prices[productId]?.price ?? 0 }))
    .sort((a, b) => a.productId.localeCompare(b.productId));
}

export interface CartTotals {
  itemCount: number;
  units: number;
  value: number;
}

export function cartTotals(lines: readonly CartLine[]): CartTotals {
  return {
    itemCount: lines.length,
    units: lines.reduce((sum, line) => sum + line.quantity, 0),
    value: roundCents(lines.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0)),
  };
}

export interface OfferRules {
  /** Carts worth at least this get a percentage off; the rest free shipping. */
  highValueThreshold: number;
  highValuePercent: number;
}

/** Letters and digits a shopper cannot confuse (no 0/O, 1/I/L). */
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

/**
 * The offer for an abandoned cart: free shipping by default, a percentage off for high-value carts.
 * The code is unique to the cart: 12 characters (about 59 bits) drawn from `randomHex`, which the
 * workflow takes from its replay-safe `uuid4()`; the warehouse's unique index would catch a collision.
 */
export function chooseOffer(value: number, rules: OfferRules, randomHex: string): Offer {
  const hex = randomHex.replace(/[^0-9a-f]/gi, '');
  let code = '';
  for (let i = 0; i < 12; i++) {
    const chunk = parseInt(hex.slice(i * 2, i * 2 + 2) || '0', 16);
    code += CODE_ALPHABET[chunk % CODE_ALPHABET.length];
  }
  const grouped = `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8, 12)}`;
  if (value >= rules.highValueThreshold) {
    return {
      type: 'percent_off',
      value: rules.highValuePercent,
      code: `SAVE${rules.highValuePercent}-${grouped}`,
    };
  }
  return { type: 'free_shipping', value: null, code: `SHIP-${grouped}` };
}

/** The earliest deadline the cart waits for, or null when it waits for nothing but events. */
export function nextDeadline(state: CartState): number | null {
  const candidates = [state.idleDeadline, state.reminderAt, state.attributionEndsAt].filter(
    (deadline): deadline is number => deadline !== null,
  );
  return candidates.length === 0 ? null : Math.min(...candidates);
}

/** What a query returns: the cart as the storefront or an operator wants to see it. */
export interface CartView {
  userSession: string;
  cartId: string;
  userId: string;
  stage: CartStage;
  items: CartLine[];
  itemCount: number;
  units: number;
  value: number;
  eventCount: number;
  firstEventAt: string;
  lastEventAt: string;
  /** When the server accepted the latest event the cart has applied (ISO). */
  lastReceivedAt: string | null;
  /** When the session expires if nothing else happens (ISO), while the idle timer runs. */
  expiresAt: string | null;
  offer: Offer | null;
  email: { decision: RetargetingDecision; reason: string | null } | null;
  reminder: { decision: RetargetingDecision; reason: string | null } | null;
  reminderAt: string | null;
  purchase: { at: string; value: number; units: number } | null;
}

export function viewOf(state: CartState): CartView {
  const items = cartLines(state);
  const totals = cartTotals(items);
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    userSession: state.userSession,
    cartId: state.cartId,
    userId: state.userId,
    stage: state.stage,
    items,
    ...totals,
    eventCount: state.eventCount,
    firstEventAt: state.firstEventAt,
    lastEventAt: state.lastEventAt,
    lastReceivedAt: state.lastReceivedAt,
    expiresAt: state.stage === 'cart' || state.stage === 'browsing' ? iso(state.idleDeadline) : null,
    offer: state.offer,
    email: state.decision,
    reminder: state.reminder,
    reminderAt: iso(state.reminderAt),
    purchase: state.purchase,
  };
}

/** The one-line summary shown in the Temporal UI: ids, amounts and stages only, never names or addresses. */
export function describeCart(state: CartState): string {
  const { itemCount, value } = cartTotals(cartLines(state));
  const parts = [`${itemCount} item${itemCount === 1 ? '' : 's'}, ${value.toFixed(2)}`, state.stage];
  if (state.decision)
    parts.push(
      `e-mail ${state.decision.decision}${state.decision.reason ? ` (${state.decision.reason})` : ''}`,
    );
  if (state.reminder) parts.push(`reminder ${state.reminder.decision}`);
  else if (state.reminderAt !== null) parts.push(`reminder due ${new Date(state.reminderAt).toISOString()}`);
  if (state.purchase) parts.push(`bought ${state.purchase.value.toFixed(2)}`);
  return `Cart ${state.userSession} of customer ${state.userId}: ${parts.join('; ')}`;
}
