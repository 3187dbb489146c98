import { DAY_MS, HOUR_MS, MINUTE_MS } from './calendar';
import { WeightedTable, type Random } from './random';
import type { OrderStatus, PaymentStatus } from './rows';

/** How shoppers pay: cards and PayPal settle at once, invoices and bank transfers days later. */
const PAYMENT_METHODS = ['card', 'paypal', 'invoice', 'bank_transfer'] as const;
const PAYMENT_METHOD_TABLE = new WeightedTable([55, 30, 10, 5]);
type PaymentMethod = (typeof PAYMENT_METHODS)[number];
const SETTLES_AT_ONCE: ReadonlySet<PaymentMethod> = new Set(['card', 'paypal']);

/** A card or PayPal payment declined at checkout; half of those shoppers retry and succeed. */
const INSTANT_PAYMENT_DECLINED = 0.04;
const RETRY_AFTER_DECLINE = 0.5;
/** Invoices and transfers never paid: the shop cancels the order after two weeks. */
const NEVER_PAID = 0.1;
/** Paid orders the shopper cancels before shipping; the payment is refunded. */
const CANCELLED_AFTER_PAYMENT = 0.02;
/** Shipped orders sent back; the payment is refunded some days after the return arrives. */
const RETURNED = 0.08;

export interface StatusChange {
  status: OrderStatus;
  at: number;
}

export interface PaymentEvent {
  status: PaymentStatus;
  method: PaymentMethod;
  amountCents: number;
  at: number;
}

/** Everything that will happen to an order, decided when it is placed; some of it may lie beyond the period. */
export interface OrderLifecycle {
  statusChanges: StatusChange[];
  payments: PaymentEvent[];
}

/**
 * An order's life after checkout: placed → paid → shipped, perhaps returned, or cancelled when the
 * payment fails, an invoice goes unpaid, or the shopper changes their mind. Refunds are separate
 * payment rows with status `refunded` (a ledger, not an overwritten payment).
 */
export function orderLifecycle(random: Random, placedAt: number, amountCents: number): OrderLifecycle {
  const method = PAYMENT_METHODS[PAYMENT_METHOD_TABLE.sample(random)];
  const statusChanges: StatusChange[] = [{ status: 'placed', at: placedAt }];
  const payments: PaymentEvent[] = [];
  const pay = (status: PaymentStatus, at: number) =>
    payments.push({ status, method, amountCents, at: Math.floor(at) });
  const moveTo = (status: OrderStatus, at: number) => statusChanges.push({ status, at: Math.floor(at) });

  let paidAt: number;
  if (SETTLES_AT_ONCE.has(method)) {
    paidAt = placedAt + random.between(10_000, 120_000);
    if (random.chance(INSTANT_PAYMENT_DECLINED)) {
      pay('failed', paidAt);
      if (!random.chance(RETRY_AFTER_DECLINE)) {
        moveTo('cancelled', paidAt + random.between(HOUR_MS, 24 * HOUR_MS));
        return { statusChanges, payments };
      }
      paidAt += random.between(2 * MINUTE_MS, 10 * MINUTE_MS);
    }
  } else {
    if (random.chance(NEVER_PAID)) {
      moveTo('cancelled', placedAt + random.between(14 * DAY_MS, 15 * DAY_MS));
      return { statusChanges, payments };
    }
    paidAt = placedAt + DAY_MS * (1 + random.exponential(2));
  }
  pay('captured', paidAt);
  moveTo('paid', paidAt);

  if (random.chance(CANCELLED_AFTER_PAYMENT)) {
    const cancelledAt = paidAt + random.between(HOUR_MS, 12 * HOUR_MS);
    moveTo('cancelled', cancelledAt);
    pay('refunded', cancelledAt + random.between(DAY_MS, 3 * DAY_MS));
    return { statusChanges, payments };
  }
  const shippedAt = paidAt + random.between(6 * HOUR_MS, 3 * DAY_MS);
  moveTo('shipped', shippedAt);
  if (random.chance(RETURNED)) {
    const returnedAt = shippedAt + random.between(3 * DAY_MS, 30 * DAY_MS);
    moveTo('returned', returnedAt);
    pay('refunded', returnedAt + random.between(DAY_MS, 5 * DAY_MS));
  }
  return { statusChanges, payments };
}

/** The order as the database holds it at `asOf`: its latest status so far, and when it changed. */
export function orderStateAt(lifecycle: OrderLifecycle, asOf: number): StatusChange {
  let state = lifecycle.statusChanges[0];
  for (const change of lifecycle.statusChanges) if (change.at < asOf) state = change;
  return state;
}

/** The payment rows that exist at `asOf`. */
export function paymentsAt(lifecycle: OrderLifecycle, asOf: number): PaymentEvent[] {
  return lifecycle.payments.filter((payment) => payment.at < asOf);
}
