import { Command, CommanderError } from 'commander';
import type pg from 'pg';
import { registerSimulateCommand } from '../../cli/simulate';
import { createPool } from '../../lib/db';
import {
  DIRT_RATES,
  ShopNotEmptyError,
  shopFingerprint,
  simulateShop,
  type DirtKind,
  type SimulateOptions,
  type SimulateSummary,
} from '../../simulator';
import { createTestDatabases, type TestDatabases } from '../helpers/services';

const SMALL: SimulateOptions = { customers: 300, days: 60, seed: 5, endDate: '2026-10-31' };
const END_OF_PERIOD = '2026-11-01T00:00:00Z';

/** One fresh, migrated shop database with a pool on it. */
interface Shop {
  databases: TestDatabases;
  pool: pg.Pool;
}

async function freshShop(label: string): Promise<Shop> {
  const databases = await createTestDatabases(label);
  return { databases, pool: createPool(databases.shopUrl, 'test-simulate', 2) };
}

async function count(shop: pg.Pool, sql: string): Promise<number> {
  const { rows } = await shop.query<{ n: number }>(`select (${sql})::int as n`);
  return rows[0].n;
}

/** Each planted defect as the database shows it. */
const DIRT_IN_DATABASE: Record<DirtKind, string> = {
  customerEmailMissing: 'select count(*) from customers where email is null',
  customerCityMissing: 'select count(*) from customers where city is null',
  productBrandMissing: 'select count(*) from products where brand is null',
  orderLineNegativeQuantity:
    'select count(*) from order_lines l where quantity < 0 and not exists (select 1 from order_lines o where o.order_id = l.order_id and o.product_id = l.product_id and o.order_line_id < l.order_line_id)',
  orderLineNegativeUnitPrice:
    'select count(*) from order_lines l where unit_price < 0 and not exists (select 1 from order_lines o where o.order_id = l.order_id and o.product_id = l.product_id and o.order_line_id < l.order_line_id)',
  // A cart never holds a product twice, so a second line for the same order and product is a double submit.
  orderLineDuplicated: 'select count(*) - count(distinct (order_id, product_id)) from order_lines',
};

/** The rows each table holds, to compare with a summary. */
async function rowCounts(shop: pg.Pool) {
  const tables = {
    customers: 'customers',
    products: 'products',
    orders: 'orders',
    orderLines: 'order_lines',
    payments: 'payments',
    siteEvents: 'site_events',
  };
  const entries = await Promise.all(
    Object.entries(tables).map(
      async ([key, table]) => [key, await count(shop, `select count(*) from ${table}`)] as const,
    ),
  );
  return Object.fromEntries(entries);
}

describe('simulateShop into a real shop database', () => {
  const shops: Shop[] = [];
  let first: Shop;
  let second: Shop;
  let otherSeed: Shop;
  let larger: Shop;
  let firstSummary: SimulateSummary;
  let largerSummary: SimulateSummary;

  beforeAll(async () => {
    for (const label of ['simulate_a', 'simulate_b', 'simulate_c', 'simulate_d'])
      shops.push(await freshShop(label));
    [first, second, otherSeed, larger] = shops;
    firstSummary = await simulateShop(first.pool, SMALL);
    largerSummary = await simulateShop(larger.pool, { ...SMALL, customers: 3000, days: 180 });
  });

  afterAll(async () => {
    for (const shop of shops) {
      await shop.pool.end();
      await shop.databases.drop();
    }
  });

  it('writes the same data for the same seed, and other data for another seed', async () => {
    const secondSummary = await simulateShop(second.pool, SMALL);
    const otherSummary = await simulateShop(otherSeed.pool, { ...SMALL, seed: 6 });
    const [a, b, c] = await Promise.all([first, second, otherSeed].map((shop) => shopFingerprint(shop.pool)));
    expect(b).toEqual(a);
    for (const table of Object.keys(a) as (keyof typeof a)[]) expect(c[table]).not.toBe(a[table]);
    expect({ ...secondSummary, seconds: 0 }).toEqual({ ...firstSummary, seconds: 0 });
    expect(otherSummary.orders).not.toBe(0);
  });

  it('reports the rows it wrote, table by table', async () => {
    const reported = { ...firstSummary, dirt: undefined, seconds: undefined };
    expect({ ...(await rowCounts(first.pool)), dirt: undefined, seconds: undefined }).toEqual(reported);
    expect(reported.customers).toBe(300);
    expect(reported.products).toBe(50); // a tenth of the customers, but never fewer than 50
    expect(reported.orders).toBeGreaterThan(20);
    expect(reported.siteEvents).toBeGreaterThan(reported.orders * 5);
  });

  it('takes every timestamp from the simulated clock, and moves updated_at as orders progress', async () => {
    for (const table of ['customers', 'products', 'orders', 'order_lines', 'payments', 'site_events']) {
      const late = await count(
        first.pool,
        `select count(*) from ${table} where greatest(created_at, updated_at) >= '${END_OF_PERIOD}'`,
      );
      expect({ table, late }).toEqual({ table, late: 0 });
    }
    const orders = await count(first.pool, 'select count(*) from orders');
    const progressed = await count(first.pool, 'select count(*) from orders where updated_at > created_at');
    expect(progressed / orders).toBeGreaterThan(0.9);
    expect(await count(first.pool, `select count(*) from orders where status = 'returned'`)).toBeGreaterThan(
      0,
    );
  });

  it('plants the dirt it reports, at about the documented rates', async () => {
    const pool = larger.pool;
    const rowsBehind: Record<DirtKind, number> = {
      customerEmailMissing: largerSummary.customers,
      customerCityMissing: largerSummary.customers,
      productBrandMissing: largerSummary.products,
      orderLineNegativeQuantity: await count(
        pool,
        'select count(distinct (order_id, product_id)) from order_lines',
      ),
      orderLineNegativeUnitPrice: await count(
        pool,
        'select count(distinct (order_id, product_id)) from order_lines',
      ),
      orderLineDuplicated: await count(
        pool,
        'select count(distinct (order_id, product_id)) from order_lines',
      ),
    };
    for (const kind of Object.keys(DIRT_RATES) as DirtKind[]) {
      const inDatabase = await count(pool, DIRT_IN_DATABASE[kind]);
      const rate = DIRT_RATES[kind];
      const rows = rowsBehind[kind];
      // Five binomial standard deviations (plus one row): fails on a wrong rate, not on chance.
      const tolerance = 5 * Math.sqrt(rows * rate * (1 - rate)) + 1;
      expect({ kind, inDatabase }).toEqual({ kind, inDatabase: largerSummary.dirt[kind] });
      expect(inDatabase).toBeGreaterThan(0);
      expect(Math.abs(inDatabase - rows * rate)).toBeLessThan(tolerance);
    }
  });

  it('funnels site events: views > carts > purchases, one purchasing session per order', async () => {
    const { rows } = await larger.pool.query<{ event_type: string; events: number; sessions: number }>(
      `select event_type, count(*)::int as events, count(distinct session_id)::int as sessions
         from site_events group by event_type`,
    );
    const of = (type: string) => rows.find((row) => row.event_type === type) ?? { events: 0, sessions: 0 };
    expect(of('view').events).toBeGreaterThan(of('cart').events);
    expect(of('cart').events).toBeGreaterThan(of('purchase').events);
    expect(of('view').sessions).toBeGreaterThan(of('cart').sessions);
    expect(of('cart').sessions).toBeGreaterThan(of('purchase').sessions);
    expect(of('purchase').sessions).toBe(largerSummary.orders);
    expect(of('remove_from_cart').events).toBeGreaterThan(0);
  });

  it('refuses to simulate into a shop that holds rows, and changes nothing', async () => {
    const before = await shopFingerprint(first.pool);
    const attempt = simulateShop(first.pool, { ...SMALL, seed: 99 });
    await expect(attempt).rejects.toThrow(ShopNotEmptyError);
    await expect(attempt).rejects.toThrow(/fresh shop database, or pass --reset/);
    expect(await shopFingerprint(first.pool)).toEqual(before);
  });

  it('replaces the shop with --reset (options.reset), giving the seed’s shop again', async () => {
    const before = await shopFingerprint(otherSeed.pool);
    await simulateShop(otherSeed.pool, { ...SMALL, seed: 5, reset: true });
    expect(await shopFingerprint(otherSeed.pool)).toEqual(await shopFingerprint(first.pool));
    await simulateShop(otherSeed.pool, { ...SMALL, seed: 6, reset: true });
    expect(await shopFingerprint(otherSeed.pool)).toEqual(before);
  });
});

describe('cartflow simulate', () => {
  let shop: Shop;

  beforeAll(async () => {
    shop = await freshShop('simulate_cli');
  });

  afterAll(async () => {
    await shop.pool.end();
    await shop.databases.drop();
  });

  /** Runs the command as the CLI would; returns what it printed, or the usage error it stopped with. */
  async function run(...args: string[]): Promise<{ out: string; error?: CommanderError }> {
    const program = new Command('cartflow').exitOverride().configureOutput({ writeErr: () => undefined });
    registerSimulateCommand(program, { loadShopPool: async () => shop.pool });
    const printed: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    try {
      await program.parseAsync(['node', 'cartflow', 'simulate', ...args]);
      return { out: printed.join('') };
    } catch (error) {
      if (error instanceof CommanderError) return { out: printed.join(''), error };
      throw error;
    } finally {
      write.mockRestore();
    }
  }

  it('rejects options that are not whole numbers in range, or not dates, before touching the shop', async () => {
    const cases: [string[], RegExp][] = [
      [['--customers', 'ten'], /--customers must be a whole number from 1 to 1000000/],
      [['--customers', '12abc'], /--customers must be a whole number/],
      [['--customers', '0'], /--customers must be a whole number from 1/],
      [['--days', '1e3'], /--days must be a whole number from 1 to 3650/],
      [['--seed', '-1'], /--seed must be a whole number from 0/],
      [['--end-date', '2026-02-30'], /not a date of the form YYYY-MM-DD/],
    ];
    for (const [args, message] of cases) {
      const { error } = await run(...args);
      expect(error?.code).toBe('commander.invalidArgument');
      expect(error?.message).toMatch(message);
    }
    expect(await count(shop.pool, 'select count(*) from customers')).toBe(0);
  });

  it('simulates and prints the summary; a second run is refused until --reset', async () => {
    const args = ['--customers', '200', '--days', '30', '--seed', '3', '--end-date', '2026-06-30'];
    const { out } = await run(...args);
    expect(out).toMatch(/^Simulated 200 customers over 30 days ending 2026-06-30, seed 3:/);
    expect(out).toMatch(/^ {2}customers +200$/m);
    expect(out).toMatch(/^ {2}customerEmailMissing +\d+ +2\.0 %$/m);
    await expect(run(...args)).rejects.toThrow(/--reset/);
    const again = await run(...args, '--reset');
    expect(again.out.split('\n').slice(0, 7)).toEqual(out.split('\n').slice(0, 7));
  });
});
