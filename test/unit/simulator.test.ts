import crypto from 'node:crypto';
import {
  DIRT_RATES,
  Random,
  ShopHistory,
  WEEKDAY_FACTORS,
  WeightedTable,
  parseIsoDate,
  yearlyFactor,
  type DayActivity,
} from '../../simulator';
import { copyField, copyLine, formatBasisPoints, formatCents } from '../../simulator/copy';

const DAY_MS = 86_400_000;

function draws(random: Random, count: number): number[] {
  return Array.from({ length: count }, () => random.uint32());
}

/** A digest of every row of every table, read the way the loader reads them. */
function digest(history: ShopHistory): string {
  const hash = crypto.createHash('md5');
  for (const row of history.customers()) hash.update(JSON.stringify(row));
  for (const row of history.products()) hash.update(JSON.stringify(row));
  for (const day of history.days()) hash.update(JSON.stringify(day));
  return hash.digest('hex');
}

describe('Random', () => {
  it('gives the same sequence for the same seed and labels, and another for any other', () => {
    expect(draws(Random.derive(1, 'day', 3), 100)).toEqual(draws(Random.derive(1, 'day', 3), 100));
    expect(draws(Random.derive(2, 'day', 3), 100)).not.toEqual(draws(Random.derive(1, 'day', 3), 100));
    expect(draws(Random.derive(1, 'day', 4), 100)).not.toEqual(draws(Random.derive(1, 'day', 3), 100));
    // Labels are joined with a separator, so ('day', 13) and ('day1', 3) are different streams.
    expect(draws(Random.derive(1, 'day1', 3), 10)).not.toEqual(draws(Random.derive(1, 'day', 13), 10));
  });

  it('draws floats in [0, 1), integers within both bounds, and means where they belong', () => {
    const random = Random.derive(42, 'draws');
    const floats = Array.from({ length: 20_000 }, () => random.float());
    expect(Math.min(...floats)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...floats)).toBeLessThan(1);
    const ints = new Set(Array.from({ length: 2_000 }, () => random.int(1, 5)));
    expect([...ints].sort()).toEqual([1, 2, 3, 4, 5]);
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
    expect(mean(floats)).toBeCloseTo(0.5, 1);
    expect(mean(Array.from({ length: 20_000 }, () => random.poisson(3.5)))).toBeCloseTo(3.5, 1);
    expect(mean(Array.from({ length: 20_000 }, () => random.poisson(80)))).toBeCloseTo(80, 0);
    expect(mean(Array.from({ length: 20_000 }, () => random.exponential(2)))).toBeCloseTo(2, 1);
  });

  it('makes version-4 UUIDs that do not repeat', () => {
    const random = Random.derive(7, 'uuids');
    const ids = Array.from({ length: 10_000 }, () => random.uuid());
    for (const id of ids.slice(0, 100))
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('WeightedTable', () => {
  it('draws in proportion to the weights and never a zero weight', () => {
    const table = new WeightedTable([1, 0, 3]);
    const random = Random.derive(3, 'weights');
    const counts = [0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[table.sample(random)]++;
    expect(counts[1]).toBe(0);
    expect(counts[2] / counts[0]).toBeCloseTo(3, 0);
  });

  it('maps sorted fractions to sorted positions (signup times grow with customer ids)', () => {
    const table = new WeightedTable([2, 5, 1, 7]);
    const positions = Array.from({ length: 1000 }, (_, i) => table.position(i / 1000));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(positions[0]).toBe(0);
    expect(positions[999]).toBeLessThan(4);
  });
});

describe('the calendar', () => {
  it('peaks in December, spikes on Black Friday, and is quiet at Christmas and in January', () => {
    const on = (month: number, day: number) => yearlyFactor(Date.UTC(2025, month - 1, day));
    expect(on(12, 14)).toBeGreaterThan(1.9);
    expect(on(3, 15)).toBeCloseTo(1, 1);
    expect(on(11, 27)).toBeGreaterThan(on(11, 20) + 0.5);
    expect(on(12, 25)).toBeLessThan(on(12, 14) - 0.5);
    expect(on(1, 20)).toBeLessThan(on(3, 15));
  });

  it('makes weekends differ from weekdays', () => {
    const weekdays = WEEKDAY_FACTORS.slice(1, 6);
    const weekdayMean = weekdays.reduce((sum, factor) => sum + factor, 0) / weekdays.length;
    expect(WEEKDAY_FACTORS[0]).toBeGreaterThan(weekdayMean * 1.2); // Sunday
    expect(WEEKDAY_FACTORS[6]).toBeLessThan(weekdayMean * 0.9); // Saturday
  });

  it('accepts only real YYYY-MM-DD dates', () => {
    expect(parseIsoDate('2026-10-31')).toBe(Date.UTC(2026, 9, 31));
    for (const bad of ['2026-02-30', '2026-13-01', '31.10.2026', '2026-1-5', '']) {
      expect(() => parseIsoDate(bad)).toThrow(/YYYY-MM-DD/);
    }
  });
});

describe('COPY text encoding', () => {
  it('escapes what COPY treats specially and writes nulls, booleans and money exactly', () => {
    expect(copyField('a\tb\nc\\d\re')).toBe('a\\tb\\nc\\\\d\\re');
    expect(copyField(null)).toBe('\\N');
    expect(copyField('\\N')).toBe('\\\\N'); // the text "\N" is not null
    expect(copyLine([1, true, false, 'x'])).toBe('1\tt\tf\tx\n');
    expect(formatCents(-1999)).toBe('-19.99');
    expect(formatCents(5)).toBe('0.05');
    expect(formatCents(123456)).toBe('1234.56');
    expect(formatBasisPoints(1500)).toBe('0.1500');
    expect(formatBasisPoints(0)).toBe('0.0000');
  });
});

describe('ShopHistory', () => {
  const options = { customers: 5000, days: 365, seed: 11, endDate: '2026-10-31' };
  let history: ShopHistory;
  let days: DayActivity[];

  beforeAll(() => {
    history = new ShopHistory(options);
    days = [...history.days()];
  });

  const all = <K extends 'orders' | 'orderLines' | 'payments' | 'siteEvents'>(key: K): DayActivity[K] =>
    days.flatMap((day) => day[key] as unknown[]) as DayActivity[K];

  it('is the same history for the same seed, on every read, and another for another seed', () => {
    const small = { ...options, customers: 1000 };
    const once = new ShopHistory(small);
    const first = digest(once);
    expect(digest(once)).toBe(first); // the loader reads the days once per table: every read must agree
    expect(digest(new ShopHistory(small))).toBe(first);
    expect(digest(new ShopHistory({ ...small, seed: 12 }))).not.toBe(first);
  });

  it('gives popularity a long tail: a few products get most views', () => {
    const views = new Map<number, number>();
    for (const event of all('siteEvents')) {
      if (event.eventType === 'view') views.set(event.productId, (views.get(event.productId) ?? 0) + 1);
    }
    const counts = [...views.values()].sort((a, b) => b - a);
    const total = counts.reduce((sum, count) => sum + count, 0);
    const share = (from: number, to: number) =>
      counts.slice(from, to).reduce((sum, count) => sum + count, 0) / total;
    const products = history.catalog.count;
    expect(products).toBe(500);
    expect(share(0, products * 0.05)).toBeGreaterThan(0.4);
    expect(share(products / 2, products)).toBeLessThan(0.12);
  });

  it('follows the seasons: more orders in December than around it, and weekends differ', () => {
    const perDay = (from: string, to: string) => {
      const [start, end] = [parseIsoDate(from), parseIsoDate(to) + DAY_MS];
      return (
        all('orders').filter((order) => order.placedAt >= start && order.placedAt < end).length /
        ((end - start) / DAY_MS)
      );
    };
    expect(perDay('2025-12-01', '2025-12-20')).toBeGreaterThan(1.5 * perDay('2025-11-01', '2025-11-20'));
    expect(perDay('2025-12-01', '2025-12-20')).toBeGreaterThan(1.5 * perDay('2026-01-05', '2026-01-31'));
    const sessionsByWeekday = new Array<number>(7).fill(0);
    const seen = new Set<string>();
    for (const event of all('siteEvents')) {
      if (seen.has(event.sessionId)) continue;
      seen.add(event.sessionId);
      sessionsByWeekday[new Date(event.eventTime).getUTCDay()]++;
    }
    const weekdayMean = sessionsByWeekday.slice(1, 6).reduce((sum, count) => sum + count, 0) / 5;
    expect(sessionsByWeekday[0]).toBeGreaterThan(1.15 * weekdayMean);
  });

  it('funnels views into fewer carts and fewer purchases, and most carts are abandoned', () => {
    const byType = new Map<string, number>();
    const sessions = new Map<string, Set<string>>();
    for (const event of all('siteEvents')) {
      byType.set(event.eventType, (byType.get(event.eventType) ?? 0) + 1);
      sessions.set(event.sessionId, (sessions.get(event.sessionId) ?? new Set()).add(event.eventType));
      if (event.eventType === 'purchase') expect(event.customerId).not.toBeNull();
    }
    expect(byType.get('view')!).toBeGreaterThan(byType.get('cart')!);
    expect(byType.get('cart')!).toBeGreaterThan(byType.get('purchase')!);
    expect(byType.get('remove_from_cart')!).toBeGreaterThan(0);
    const kinds = [...sessions.values()];
    const purchased = kinds.filter((types) => types.has('purchase')).length;
    const abandoned = kinds.filter((types) => types.has('cart') && !types.has('purchase')).length;
    const viewedOnly = kinds.length - purchased - abandoned;
    expect(viewedOnly).toBeGreaterThan(abandoned);
    expect(abandoned).toBeGreaterThan(purchased);
    expect(purchased).toBe(all('orders').length);
  });

  it('has repeat customers and customers who stop coming', () => {
    const ordersByCustomer = new Map<number, number>();
    for (const order of all('orders'))
      ordersByCustomer.set(order.customerId, (ordersByCustomer.get(order.customerId) ?? 0) + 1);
    const repeat = [...ordersByCustomer.values()].filter((orders) => orders > 1).length;
    expect(repeat / ordersByCustomer.size).toBeGreaterThan(0.15);
    expect(repeat / ordersByCustomer.size).toBeLessThan(0.6);
    const lastSeen = new Map<number, number>();
    for (const event of all('siteEvents'))
      if (event.customerId !== null) lastSeen.set(event.customerId, event.eventTime);
    const silentForMonths = [...lastSeen.values()].filter(
      (at) => at < history.period.endMs - 120 * DAY_MS,
    ).length;
    expect(silentForMonths / lastSeen.size).toBeGreaterThan(0.15);
  });

  it('writes orders of 1 to 5 lines whose later fate moves updated_at past created_at', () => {
    const linesPerOrder = new Map<number, number>();
    for (const line of all('orderLines'))
      if (!line.duplicate) linesPerOrder.set(line.orderId, (linesPerOrder.get(line.orderId) ?? 0) + 1);
    expect(new Set(linesPerOrder.values())).toEqual(new Set([1, 2, 3, 4, 5]));
    expect(linesPerOrder.size).toBe(all('orders').length);
    const orders = all('orders');
    expect(new Set(orders.map((order) => order.status))).toEqual(
      new Set(['placed', 'paid', 'shipped', 'cancelled', 'returned']),
    );
    expect(
      orders.filter((order) => order.updatedAt > order.createdAt).length / orders.length,
    ).toBeGreaterThan(0.95);
    for (const order of orders) {
      expect(order.updatedAt).toBeLessThan(history.period.endMs);
      expect(order.placedAt).toBeGreaterThanOrEqual(history.period.startMs);
    }
    expect(orders.map((order) => order.orderId)).toEqual(orders.map((_, index) => index + 1));
  });

  it('refunds returns, and sells products at the price of the day as prices change', () => {
    const payments = all('payments');
    const returned = all('orders').filter((order) => order.status === 'returned');
    const refunded = new Set(
      payments.filter((payment) => payment.status === 'refunded').map((payment) => payment.orderId),
    );
    expect(returned.filter((order) => refunded.has(order.orderId)).length / returned.length).toBeGreaterThan(
      0.8,
    );
    expect(new Set(payments.map((payment) => payment.status))).toEqual(
      new Set(['captured', 'refunded', 'failed']),
    );
    const pricesByProduct = new Map<number, Set<number>>();
    for (const line of all('orderLines')) {
      const prices = pricesByProduct.get(line.productId) ?? new Set<number>();
      pricesByProduct.set(line.productId, prices.add(Math.abs(line.unitPriceCents)));
    }
    expect([...pricesByProduct.values()].filter((prices) => prices.size > 1).length).toBeGreaterThan(20);
  });

  it('plants the documented dirt at about the documented rates', () => {
    const customers = [...history.customers()];
    const products = [...new ShopHistory({ ...options, customers: 50_000 }).products()];
    const originalLines = all('orderLines').filter((line) => !line.duplicate);
    const rate = (count: number, of: number) => count / of;
    const within = (observed: number, expected: number, rows: number) =>
      // five binomial standard deviations: fails on a broken rate, not on chance
      expect(Math.abs(observed - expected)).toBeLessThan(5 * Math.sqrt((expected * (1 - expected)) / rows));
    within(
      rate(customers.filter((c) => c.email === null).length, customers.length),
      DIRT_RATES.customerEmailMissing,
      customers.length,
    );
    within(
      rate(customers.filter((c) => c.city === null).length, customers.length),
      DIRT_RATES.customerCityMissing,
      customers.length,
    );
    within(
      rate(products.filter((p) => p.brand === null).length, products.length),
      DIRT_RATES.productBrandMissing,
      products.length,
    );
    const lines = originalLines.length;
    within(
      rate(originalLines.filter((l) => l.quantity < 0).length, lines),
      DIRT_RATES.orderLineNegativeQuantity,
      lines,
    );
    within(
      rate(originalLines.filter((l) => l.unitPriceCents < 0).length, lines),
      DIRT_RATES.orderLineNegativeUnitPrice,
      lines,
    );
    within(rate(all('orderLines').length - lines, lines), DIRT_RATES.orderLineDuplicated, lines);
  });

  it('describes customers plausibly, with ids that grow with their signup', () => {
    const customers = [...history.customers()];
    const signups = customers.map((customer) => customer.signupAt);
    expect(signups).toEqual([...signups].sort((a, b) => a - b));
    const before =
      customers.filter((customer) => customer.signupAt < history.period.startMs).length / customers.length;
    expect(before).toBeGreaterThan(0.2);
    expect(before).toBeLessThan(0.3);
    const consent = customers.filter((customer) => customer.marketingConsent).length / customers.length;
    expect(consent).toBeGreaterThan(0.55);
    expect(consent).toBeLessThan(0.65);
    for (const customer of customers) {
      if (customer.email !== null)
        expect(customer.email).toMatch(/^[a-z]+\.[a-z]+\d+@([a-z]+\.)?example\.(com|net|org)$/);
      expect(customer.updatedAt).toBeGreaterThanOrEqual(customer.createdAt);
      expect(customer.updatedAt).toBeLessThan(history.period.endMs);
    }
    expect(customers.some((customer) => customer.gender === null)).toBe(true);
    expect(customers.filter((customer) => customer.updatedAt > customer.createdAt).length).toBeGreaterThan(
      customers.length / 10,
    );
  });
});
