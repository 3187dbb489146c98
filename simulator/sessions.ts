/**
 * One visit's funnel: views, perhaps carts (and a removal), perhaps a purchase. With the rates below
 * about one session in nine of a signed-in customer ends in an order and about two carts in three
 * are abandoned, as in real shops.
 */
import type { Catalog } from './catalog';
import type { Population } from './customers';
import { WeightedTable, type Random } from './random';
import type { SiteEventRow } from './rows';

/** Views per session: 1 + a geometric number with this stop probability (mean about 3.3). */
const VIEW_STOP_PROBABILITY = 0.3;
const MAX_VIEWS = 20;
/** Sessions of signed-in customers that put something in the cart (scaled by the customer's propensity). */
const CART_RATE = 0.25;
/** Anonymous visitors cart less, and cannot check out without signing up. */
const ANONYMOUS_CART_RATE = 0.06;
/** Carts that are checked out rather than abandoned (scaled by the customer's propensity). */
const CHECKOUT_RATE = 0.3;
/** Many shoppers sign up at checkout, so a signup session carts and buys far more often. */
const SIGNUP_CART_RATE = 0.5;
const SIGNUP_CHECKOUT_RATE = 0.55;
/** In the promotion season (Black Friday to Christmas) carts are checked out more often. */
const PROMOTION_CHECKOUT_BOOST = 1.2;
/** Carts with several products from which the shopper takes one out again. */
const REMOVE_FROM_CART_RATE = 0.12;
/** Distinct products in a cart: 1 to 5, mostly one or two (and so 1 to 5 lines per order). */
const CART_SIZE_TABLE = new WeightedTable([45, 25, 15, 10, 5]);
/** Quantity of one product: mostly 1. */
const QUANTITY_TABLE = new WeightedTable([85, 11, 4]);

export interface SessionStart {
  startAt: number;
  /** Index into the population, or -1 for an anonymous visitor. */
  customerIndex: number;
  /** The session in which the customer signs up. */
  signup: boolean;
}

export interface PurchasedItem {
  productIndex: number;
  quantity: number;
  unitPriceCents: number;
}

export interface SessionOutcome {
  events: SiteEventRow[];
  /** Set when the session ended in an order. */
  purchase?: { placedAt: number; items: PurchasedItem[] };
}

export interface SessionContext {
  catalog: Catalog;
  population: Population;
  /** Events at or after this moment have not happened yet: the simulated period's end. */
  endMs: number;
  promotionSeason: boolean;
}

/** Seconds in milliseconds, as whole milliseconds. */
function pause(random: Random, meanSeconds: number, minSeconds: number): number {
  return Math.floor((minSeconds + random.exponential(meanSeconds)) * 1000);
}

function viewCount(random: Random): number {
  let views = 1;
  while (views < MAX_VIEWS && !random.chance(VIEW_STOP_PROBABILITY)) views++;
  return views;
}

function cartAndCheckoutRates(start: SessionStart, context: SessionContext) {
  if (start.customerIndex < 0) return { cartRate: ANONYMOUS_CART_RATE, checkoutRate: 0 };
  const propensity = context.population.buyPropensity[start.customerIndex];
  const boost = context.promotionSeason ? PROMOTION_CHECKOUT_BOOST : 1;
  if (start.signup)
    return { cartRate: SIGNUP_CART_RATE, checkoutRate: Math.min(0.95, SIGNUP_CHECKOUT_RATE * boost) };
  return {
    cartRate: Math.min(0.9, CART_RATE * propensity),
    checkoutRate: Math.min(0.95, CHECKOUT_RATE * Math.sqrt(propensity) * boost),
  };
}

/** Plays one session; every draw comes from `random`, in a fixed order. */
export function simulateSession(
  random: Random,
  start: SessionStart,
  context: SessionContext,
): SessionOutcome {
  const { catalog, population } = context;
  const known = start.customerIndex >= 0;
  const customerId = known ? start.customerIndex + 1 : null;
  const sessionId = random.uuid();
  const { cartRate, checkoutRate } = cartAndCheckoutRates(start, context);
  const cartSize = random.chance(cartRate) ? CART_SIZE_TABLE.sample(random) + 1 : 0;
  const views = Math.max(cartSize, viewCount(random));
  const events: SiteEventRow[] = [];
  const event = (
    eventType: SiteEventRow['eventType'],
    at: number,
    productIndex: number,
    priceCents: number,
    quantity = 1,
  ) =>
    events.push({
      eventId: random.uuid(),
      eventTime: at,
      eventType,
      customerId,
      sessionId,
      productId: productIndex + 1,
      priceCents,
      quantity,
    });

  const cart: PurchasedItem[] = [];
  let at = start.startAt;
  let browsedCategory = known ? population.favouriteCategory[start.customerIndex] : -1;
  for (let view = 0; view < views; view++) {
    const productIndex = catalog.pick(random, browsedCategory, at);
    if (view === 0) browsedCategory = catalog.categoryOf[productIndex]; // the shopper keeps browsing where they landed
    const unitPriceCents = catalog.priceAt(productIndex, at);
    event('view', at, productIndex, unitPriceCents);
    // Selection sampling: each view is carted with probability (carts still wanted / views left),
    // which carts a uniformly random subset of `cartSize` views.
    const cartHere = random.float() * (views - view) < cartSize - cart.length;
    if (cartHere && !cart.some((item) => item.productIndex === productIndex)) {
      at += pause(random, 15, 3);
      const quantity = QUANTITY_TABLE.sample(random) + 1;
      event('cart', at, productIndex, unitPriceCents, quantity);
      cart.push({ productIndex, quantity, unitPriceCents });
    }
    at += pause(random, 50, 5);
  }
  if (cart.length >= 2 && random.chance(REMOVE_FROM_CART_RATE)) {
    const [removed] = cart.splice(Math.floor(random.float() * cart.length), 1);
    event('remove_from_cart', at, removed.productIndex, removed.unitPriceCents, removed.quantity);
    at += pause(random, 30, 3);
  }
  const checksOut = cart.length > 0 && random.chance(checkoutRate);
  const placedAt = at + pause(random, 120, 30);
  if (checksOut) {
    for (const item of cart)
      event('purchase', placedAt, item.productIndex, item.unitPriceCents, item.quantity);
  }
  // The period ends mid-session for late visitors on its last day: what comes after has not happened yet.
  const happened = events.filter((e) => e.eventTime < context.endMs);
  const purchased = checksOut && placedAt < context.endMs;
  return { events: happened, purchase: purchased ? { placedAt, items: cart } : undefined };
}
