import {
  DAY_MS,
  DEFAULT_END_DATE,
  isPromotionSeason,
  seasonality,
  simulationPeriod,
  timeOfDay,
  type SimulationPeriod,
} from './calendar';
import { Catalog, productCountFor, productRows } from './catalog';
import { Population, customerRows } from './customers';
import { DIRT_RATES } from './dirt';
import { orderLifecycle, orderStateAt, paymentsAt } from './orders';
import { Random } from './random';
import type { CustomerRow, OrderLineRow, OrderRow, PaymentRow, ProductRow, SiteEventRow } from './rows';
import { simulateSession, type PurchasedItem, type SessionContext, type SessionStart } from './sessions';

/** Anonymous visitors (not signed in) per signed-in session: they browse, rarely cart, never buy. */
const ANONYMOUS_SESSIONS_PER_KNOWN = 0.5;
/** Order lines bought with a promotion code, outside and inside the promotion season. */
const DISCOUNTED_LINE_SHARE = 0.08;
const DISCOUNTED_LINE_SHARE_IN_SEASON = 0.3;
/** Promotion codes take 5 to 25 % off, in steps of five, as basis points. */
const DISCOUNTS_BASIS_POINTS = [500, 1000, 1500, 2000, 2500];

export interface HistoryOptions {
  customers: number;
  days: number;
  seed: number;
  /** The last simulated day, `YYYY-MM-DD`; the default is fixed so that the seed alone decides the history. */
  endDate?: string;
}

/** What happened on one simulated day (orders by the day they were placed, with their later fate). */
export interface DayActivity {
  day: number;
  siteEvents: SiteEventRow[];
  orders: OrderRow[];
  orderLines: OrderLineRow[];
  payments: PaymentRow[];
}

/**
 * The demo shop's whole history for a seed, as lazy row streams per table. Only the catalogue and
 * the customers' behaviour are held (in typed arrays); rows are made as they are read, a customer,
 * a product or a day at a time. Every stream can be read any number of times and is the same each
 * time: each day draws from its own PRNG stream, so the orders pass and the payments pass see the
 * same days.
 */
export class ShopHistory {
  readonly period: SimulationPeriod;
  readonly catalog: Catalog;
  readonly population: Population;

  constructor(readonly options: HistoryOptions) {
    for (const name of ['customers', 'days'] as const) {
      if (!Number.isInteger(options[name]) || options[name] < 1) {
        throw new Error(`${name} must be a positive integer, not ${options[name]}.`);
      }
    }
    if (!Number.isInteger(options.seed)) throw new Error(`seed must be an integer, not ${options.seed}.`);
    this.period = simulationPeriod(options.endDate ?? DEFAULT_END_DATE, options.days);
    this.catalog = new Catalog(options.seed, productCountFor(options.customers), this.period);
    this.population = new Population(options.seed, options.customers, this.period);
  }

  customers(): Generator<CustomerRow> {
    return customerRows(this.population);
  }

  products(): Generator<ProductRow> {
    return productRows(this.catalog);
  }

  /** The simulated days in order; ids of orders, lines and payments grow with time across them. */
  *days(): Generator<DayActivity> {
    const ids = { order: 0, orderLine: 0, payment: 0 };
    let signedUp = 0; // customers are sorted by signup: those signed up by a day are a prefix
    for (let day = 0; day < this.period.days; day++) {
      const random = Random.derive(this.options.seed, 'day', day);
      const from = this.period.startMs + day * DAY_MS;
      while (signedUp < this.population.count && this.population.signupAt[signedUp] < from + DAY_MS)
        signedUp++;
      const starts = this.sessionStarts(random, from, signedUp);
      yield this.playDay(random, day, from, starts, ids);
    }
  }

  /** Who visits on the day starting at `from`, and when: signups, returning customers, anonymous visitors. */
  private sessionStarts(random: Random, from: number, signedUp: number): SessionStart[] {
    const population = this.population;
    const busy = seasonality(from);
    const to = from + DAY_MS;
    const starts: SessionStart[] = [];
    for (let index = 0; index < signedUp; index++) {
      const signupAt = population.signupAt[index];
      if (signupAt >= from) {
        starts.push({ startAt: signupAt, customerIndex: index, signup: true });
      } else if (population.isActiveBetween(index, from, to)) {
        const sessions = random.poisson(population.sessionRate[index] * busy);
        for (let s = 0; s < sessions; s++)
          starts.push({ startAt: from + timeOfDay(random), customerIndex: index, signup: false });
      }
    }
    const anonymous = random.poisson(starts.length * ANONYMOUS_SESSIONS_PER_KNOWN);
    for (let s = 0; s < anonymous; s++)
      starts.push({ startAt: from + timeOfDay(random), customerIndex: -1, signup: false });
    // Sessions play in time order, so order ids grow with time as a database sequence would hand them out.
    return starts.sort((a, b) => a.startAt - b.startAt || a.customerIndex - b.customerIndex);
  }

  private playDay(
    random: Random,
    day: number,
    from: number,
    starts: SessionStart[],
    ids: IdCounters,
  ): DayActivity {
    const activity: DayActivity = { day, siteEvents: [], orders: [], orderLines: [], payments: [] };
    const context: SessionContext = {
      catalog: this.catalog,
      population: this.population,
      endMs: this.period.endMs,
      promotionSeason: isPromotionSeason(from),
    };
    for (const start of starts) {
      const outcome = simulateSession(random, start, context);
      for (const event of outcome.events) activity.siteEvents.push(event);
      if (outcome.purchase) {
        this.placeOrder(
          random,
          start.customerIndex + 1,
          outcome.purchase.placedAt,
          outcome.purchase.items,
          ids,
          activity,
        );
      }
    }
    return activity;
  }

  private placeOrder(
    random: Random,
    customerId: number,
    placedAt: number,
    items: PurchasedItem[],
    ids: IdCounters,
    activity: DayActivity,
  ): void {
    const orderId = ++ids.order;
    const discountShare = isPromotionSeason(placedAt)
      ? DISCOUNTED_LINE_SHARE_IN_SEASON
      : DISCOUNTED_LINE_SHARE;
    let amountCents = 0;
    for (const item of items) {
      const discountBasisPoints = random.chance(discountShare) ? random.pick(DISCOUNTS_BASIS_POINTS) : 0;
      amountCents += Math.round(
        (item.quantity * item.unitPriceCents * (10_000 - discountBasisPoints)) / 10_000,
      );
      const line: OrderLineRow = {
        orderLineId: ++ids.orderLine,
        orderId,
        productId: item.productIndex + 1,
        quantity: item.quantity,
        unitPriceCents: item.unitPriceCents,
        discountBasisPoints,
        createdAt: placedAt,
        updatedAt: placedAt,
        duplicate: false,
      };
      // Dirt in the stored line only: the payment is for what the shopper really bought.
      if (random.chance(DIRT_RATES.orderLineNegativeQuantity)) line.quantity = -line.quantity;
      if (random.chance(DIRT_RATES.orderLineNegativeUnitPrice)) line.unitPriceCents = -line.unitPriceCents;
      activity.orderLines.push(line);
      if (random.chance(DIRT_RATES.orderLineDuplicated)) {
        activity.orderLines.push({ ...line, orderLineId: ++ids.orderLine, duplicate: true });
      }
    }
    const lifecycle = orderLifecycle(random, placedAt, amountCents);
    const state = orderStateAt(lifecycle, this.period.endMs);
    activity.orders.push({
      orderId,
      customerId,
      status: state.status,
      placedAt,
      currency: 'EUR',
      createdAt: placedAt,
      updatedAt: state.at,
    });
    for (const payment of paymentsAt(lifecycle, this.period.endMs)) {
      activity.payments.push({
        paymentId: ++ids.payment,
        orderId,
        amountCents: payment.amountCents,
        method: payment.method,
        status: payment.status,
        paidAt: payment.at,
        createdAt: payment.at,
        updatedAt: payment.at,
      });
    }
  }
}

interface IdCounters {
  order: number;
  orderLine: number;
  payment: number;
}
