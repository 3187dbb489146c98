import type pg from 'pg';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import type { SourceDefinition } from '../../sources/definition';
import { saveSource } from '../../sources/registry';
import { runDailyPipeline, rowsOf, startPipelineStack, type PipelineStack } from '../helpers/pipeline';

/**
 * A shop laid out as the public rental-shop and music-store databases are: a customer's city and
 * country sit two joins away (customer → address → city), a product's category in a link table, and
 * those small tables have no change timestamp, so every run takes them whole. Created in `schema`.
 */
async function createNormalisedShop(shop: pg.Pool, schema: string): Promise<void> {
  await shop.query(`
    create schema ${schema};
    set search_path to ${schema};
    create table cities (city_id int primary key, city text not null, country text not null);
    create table addresses (address_id int primary key, address_line text not null, city_id int not null);
    create table customers (customer_id int primary key, first_name text, address_id int not null,
                            updated_at timestamptz not null);
    create table categories (category_id int primary key, name text not null);
    create table products (product_id int primary key, name text, price numeric(10, 2) not null,
                           updated_at timestamptz not null);
    create table product_categories (product_id int primary key, category_id int not null);
    create table orders (order_id int primary key, customer_id int not null, placed_at timestamptz not null,
                         updated_at timestamptz not null);
    create table order_lines (order_line_id int primary key, order_id int not null, product_id int not null,
                              quantity int not null, unit_price numeric(10, 2) not null, updated_at timestamptz not null);
    insert into cities select g, 'City ' || g, 'Country ' || (g % 20) from generate_series(1, 100) g;
    insert into addresses select g, g || ' High Street', 1 + g % 100 from generate_series(1, 2000) g;
    insert into customers select g, 'First' || g, g, timestamptz '2026-10-01' from generate_series(1, 2000) g;
    insert into categories select g, 'Category ' || g from generate_series(1, 16) g;
    insert into products select g, 'Film ' || g, 0.99 + g % 5, timestamptz '2026-10-01' from generate_series(1, 1000) g;
    insert into product_categories select g, 1 + g % 16 from generate_series(1, 1000) g;
    insert into orders select g, 1 + g % 2000, timestamptz '2026-10-15' + g * interval '1 minute',
                              timestamptz '2026-10-20' from generate_series(1, 1500) g;
    insert into order_lines select g, 1 + (g - 1) / 2, 1 + g % 1000, 1 + g % 3, 2.5,
                                   timestamptz '2026-10-20' from generate_series(1, 3000) g;
    set search_path to public;
  `);
}

function normalisedSource(name: string, url: string, schema: string, enabled: boolean): SourceDefinition {
  return {
    name,
    enabled,
    connection: { kind: 'postgres', url, schema },
    tables: [
      { name: 'cities', primaryKey: ['city_id'] },
      { name: 'addresses', primaryKey: ['address_id'] },
      { name: 'customers', primaryKey: ['customer_id'], cursor: 'updated_at' },
      { name: 'categories', primaryKey: ['category_id'] },
      { name: 'products', primaryKey: ['product_id'], cursor: 'updated_at' },
      { name: 'product_categories', primaryKey: ['product_id'] },
      { name: 'orders', primaryKey: ['order_id'], cursor: 'updated_at' },
      { name: 'order_lines', primaryKey: ['order_line_id'], cursor: 'updated_at' },
    ],
    mapping: {
      customers: `
        select c.customer_id, c.first_name, a.address_line, ci.city, ci.country, c.updated_at as changed_at
          from customers c
          left join addresses a on a.address_id = c.address_id
          left join cities ci on ci.city_id = a.city_id`,
      products: `
        select p.product_id, p.name, p.price, cat.name as category, p.updated_at as changed_at
          from products p
          left join product_categories pc on pc.product_id = p.product_id
          left join categories cat on cat.category_id = pc.category_id`,
      orders: `select order_id, customer_id, placed_at, 'paid' as status from orders`,
      orderLines: `select order_line_id, order_id, product_id, quantity, unit_price from order_lines`,
    },
  };
}

/** Moves some customers to another city and some products to another category, dated `at`. */
async function changeShop(shop: pg.Pool, schema: string, at: string, step: number): Promise<void> {
  await shop.query(`
    update ${schema}.addresses set city_id = 1 + (city_id + ${step}) % 100 where address_id % 40 = ${step};
    update ${schema}.customers set updated_at = '${at}' where address_id % 40 = ${step};
    update ${schema}.product_categories set category_id = 1 + (category_id + ${step}) % 16 where product_id % 25 = ${step};
    update ${schema}.products set updated_at = '${at}' where product_id % 25 = ${step};
  `);
}

/** Runs the daily pipeline for every date, at most `parallel` at a time, oldest first: `cartflow backfill`'s lanes. */
async function backfillDates(stack: PipelineStack, dates: string[], parallel: number): Promise<void> {
  let next = 0;
  const statuses: string[] = [];
  const lane = async () => {
    while (next < dates.length) {
      const date = dates[next++];
      // The models step is not what this is about: it stays out.
      statuses.push((await runDailyPipeline(stack.worker, { date, models: false })).status);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  expect(statuses).toEqual(dates.map(() => 'succeeded'));
}

const DIMENSION_VERSIONS = {
  customers: `
    select customer_id, version, valid_from::text, valid_to::text, is_current, address_line, city, country
      from core.dim_customer where source = $1`,
  products: `
    select product_id, version, valid_from::text, valid_to::text, is_current, price::text, category
      from core.dim_product where source = $1`,
};

/**
 * Issue 12, defect 1: two dates of a backfill running side by side must write exactly the dimension
 * history one date after another writes. Before the fix, one date's extract reloaded the small
 * tables (truncate, then chunks) while another date's transform read them, giving customers without
 * city and products without category as versions that never existed.
 */
describe('a parallel backfill over a source whose customers and products change', () => {
  let stack: PipelineStack;

  beforeAll(async () => {
    stack = await startPipelineStack('pipeline_parallel');
    await createNormalisedShop(stack.shop, 'serial_src');
    await createNormalisedShop(stack.shop, 'parallel_src');
    // Only the two shops below: the built-in demo shop stays out of these runs.
    await saveSource(stack.deps.warehouse, { ...DEMO_SHOP_SOURCE, enabled: false });
  });

  afterAll(() => stack?.stop());

  /** One phase of dates, run once serially over one copy of the shop and once in parallel over the other. */
  const phase = async (dates: string[]) => {
    const url = stack.databases.shopUrl;
    await saveSource(stack.deps.warehouse, normalisedSource('serial', url, 'serial_src', true));
    await saveSource(stack.deps.warehouse, normalisedSource('parallel', url, 'parallel_src', false));
    await backfillDates(stack, dates, 1);
    await saveSource(stack.deps.warehouse, normalisedSource('serial', url, 'serial_src', false));
    await saveSource(stack.deps.warehouse, normalisedSource('parallel', url, 'parallel_src', true));
    await backfillDates(stack, dates, 3);
  };

  it('writes every dimension version a serial backfill writes, and no other', async () => {
    await phase(['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05']);
    for (const [step, at] of [
      [1, '2026-11-06T08:00:00Z'],
      [2, '2026-11-11T08:00:00Z'],
    ] as const) {
      for (const schema of ['serial_src', 'parallel_src']) await changeShop(stack.shop, schema, at, step);
      const first = Number(at.slice(8, 10));
      await phase(Array.from({ length: 5 }, (_, i) => `2026-11-${String(first + i).padStart(2, '0')}`));
    }

    const warehouse = stack.deps.warehouse;
    for (const [entity, sql] of Object.entries(DIMENSION_VERSIONS)) {
      const serial = await rowsOf(warehouse, sql, ['serial']);
      const parallel = await rowsOf(warehouse, sql, ['parallel']);
      const onlyParallel = parallel.filter((row) => !serial.includes(row));
      const onlySerial = serial.filter((row) => !parallel.includes(row));
      expect({ entity, onlyParallel: onlyParallel.slice(0, 5), count: onlyParallel.length }).toEqual({
        entity,
        onlyParallel: [],
        count: 0,
      });
      expect({ entity, onlySerial: onlySerial.slice(0, 5) }).toEqual({ entity, onlySerial: [] });
    }
    // The serial history is the true one: 2,000 customers and 1,000 products, of which 100 customers
    // and 80 products moved once (every 40th address, every 25th product, twice), and no version without a city or category.
    const { rows } = await warehouse.query<{ customers: number; products: number; holes: number }>(
      `select (select count(*)::int from core.dim_customer where source = 'serial') as customers,
              (select count(*)::int from core.dim_product where source = 'serial') as products,
              (select count(*)::int from core.dim_customer
                where source in ('serial', 'parallel') and (city is null or country is null))
              + (select count(*)::int from core.dim_product
                  where source in ('serial', 'parallel') and category is null) as holes`,
    );
    expect(rows[0]).toEqual({ customers: 2000 + 50 + 50, products: 1000 + 40 + 40, holes: 0 });
  }, 600_000);
});
