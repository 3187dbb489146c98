import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import { resetSourceTables, saveSource } from '../../sources/registry';
import type { DailyPipelineResult } from '../../workflows/daily-pipeline';
import { fillShop, runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';

/**
 * A key-scoped transform writes what a full one writes. The same shop is registered twice: `shop`
 * (the built-in source, key-scoped once it has been transformed) and `shop_full`, read from the same
 * database and always transformed in full (CARTFLOW_FULL_TRANSFORM). After each round of changes at
 * the source, every core table, the canonical rows and the quarantine of the two are compared row for
 * row, surrogate keys translated to natural keys and versions: a change the scoped path misses (a
 * fact not updated, a version not opened, a row left in or out of quarantine) makes them differ. A
 * third, `shop_text`, maps the same tables with its keys as padded text (the canonical keys are the
 * same once trimmed), so the scope reaches the staged rows by text as well as by integer.
 */
describe('a key-scoped transform', () => {
  let stack: PipelineStack;
  const previous = process.env.CARTFLOW_FULL_TRANSFORM;

  beforeAll(async () => {
    process.env.CARTFLOW_FULL_TRANSFORM = 'shop_full';
    stack = await startPipelineStack('pipeline_scoped_transform');
    await fillShop(stack.shop, { customers: 40, orders: 300, linesPerOrder: 3 });
    // Spread over 120 days, so that a few changes touch a few days.
    await stack.shop.query(
      `update orders set placed_at = timestamptz '2026-11-20T12:00:00Z' - (order_id % 120) * interval '1 day'`,
    );
    await stack.shop.query(
      `insert into payments (payment_id, order_id, amount, method, status, paid_at)
       select o.order_id, o.order_id, 10 + o.order_id % 7, 'card', 'captured', o.placed_at + interval '1 hour'
         from orders o where o.order_id % 3 = 0`,
    );
    await saveSource(stack.deps.warehouse, {
      ...DEMO_SHOP_SOURCE,
      name: 'shop_full',
      connection: { kind: 'postgres', url: stack.databases.shopUrl, schema: 'public' },
    });
    await saveSource(stack.deps.warehouse, {
      ...DEMO_SHOP_SOURCE,
      name: 'shop_text',
      connection: { kind: 'postgres', url: stack.databases.shopUrl, schema: 'public' },
      mapping: {
        customers: `select ' ' || customer_id::text as customer_id, email, first_name, last_name, address_line, city,
                           state, postal_code, country, signup_at, updated_at as changed_at from customers`,
        products: `select product_id::text || ' ' as product_id, sku, name, category, brand, price,
                          updated_at as changed_at from products`,
        orders: `select ' ' || order_id::text as order_id, customer_id::text as customer_id, status, placed_at, currency,
                        updated_at as changed_at from orders`,
        orderLines: `select order_line_id::text as order_line_id, ' ' || order_id::text as order_id,
                            product_id::text as product_id, quantity, unit_price, discount, updated_at as changed_at
                       from order_lines`,
        payments: `select ' ' || payment_id::text as payment_id, order_id::text as order_id, amount, method, status,
                          paid_at, updated_at as changed_at from payments`,
      },
    });
  });

  afterAll(async () => {
    if (previous === undefined) delete process.env.CARTFLOW_FULL_TRANSFORM;
    else process.env.CARTFLOW_FULL_TRANSFORM = previous;
    await stack?.stop();
  });

  /** A source's rows of every core table, the canonical tables and the quarantine, comparable across sources. */
  async function snapshot(source: string): Promise<Record<string, string[]>> {
    const customer = `(select customer_id || '#' || version from core.dim_customer where customer_key = t.customer_key)`;
    const product = `(select product_id || '#' || version from core.dim_product where product_key = t.product_key)`;
    const queries: Record<string, string> = {
      dim_customer: `select to_jsonb(t) - '{customer_key,source,run_id}'::text[] as r from core.dim_customer t where source = $1`,
      dim_product: `select to_jsonb(t) - '{product_key,source,run_id}'::text[] as r from core.dim_product t where source = $1`,
      fact_order_line: `select to_jsonb(t) - '{customer_key,product_key,source,run_id}'::text[]
                          || jsonb_build_object('customer', ${customer}, 'product', ${product}) as r
                          from core.fact_order_line t where source = $1`,
      fact_payment: `select to_jsonb(t) - '{customer_key,source,run_id}'::text[] || jsonb_build_object('customer', ${customer}) as r
                       from core.fact_payment t where source = $1`,
      fact_order: `select to_jsonb(t) - '{customer_key,source,run_id}'::text[] || jsonb_build_object('customer', ${customer}) as r
                     from core.fact_order t where source = $1`,
      quarantine: `select jsonb_build_object('entity', entity, 'key', natural_key, 'rule', rule, 'detail', detail,
                            'record', record, 'open', resolved_at is null) as r
                     from ops.quarantine where source = $1`,
    };
    for (const table of ['customers', 'products', 'orders', 'order_lines', 'payments'])
      queries[`canonical_${table}`] =
        `select to_jsonb(t) - '{source}'::text[] as r from staging.canonical_${table} t where source = $1`;
    const out: Record<string, string[]> = {};
    for (const [name, sql] of Object.entries(queries)) {
      const { rows } = await stack.deps.warehouse.query<{ r: unknown }>(sql, [source]);
      out[name] = rows.map((row) => JSON.stringify(row.r)).sort();
    }
    return out;
  }

  /** Runs the day, checks every source reconciled, and compares the scoped sources with the full one. */
  async function runAndCompare(date: string, scoped: boolean): Promise<DailyPipelineResult> {
    const result = await runDailyPipeline(stack.worker, { date, models: false });
    expect(result.summary.failures ?? []).toEqual([]);
    const transform = (name: string) => result.summary.transforms.find((t) => t.source === name)!;
    expect(transform('shop_full').path?.kind).toBe('full');
    for (const name of ['shop', 'shop_text'])
      expect(transform(name).path?.kind).toBe(scoped ? 'scoped' : 'full');
    const reconciled = (name: string) => result.summary.reconciliations.find((r) => r.source === name)!;
    for (const name of ['shop', 'shop_text', 'shop_full']) expect(reconciled(name).mismatchedDays).toBe(0);
    const figures = (name: string) => {
      const r = reconciled(name);
      return {
        days: r.days,
        lines: [r.source_lines, r.warehouse_lines, r.quarantined_lines],
        amounts: [r.source_amount, r.warehouse_amount, r.quarantined_amount],
        warned: r.quarantineWarning !== undefined,
      };
    };
    expect(figures('shop')).toEqual(figures('shop_full'));
    expect(figures('shop_text')).toEqual(figures('shop_full'));
    expect(result.status).toBe('succeeded');
    const b = await snapshot('shop_full');
    for (const name of ['shop', 'shop_text']) {
      const a = await snapshot(name);
      for (const table of Object.keys(b)) {
        if (table !== 'quarantine') expect(b[table].length).toBeGreaterThan(0);
        expect({ name, table, rows: a[table] }).toEqual({ name, table, rows: b[table] });
      }
    }
    return result;
  }

  it('writes what a full transform writes, change after change', async () => {
    await runAndCompare('2026-11-20', false);

    // Round 1: a quantity, a status, a line turned dirty, a double submission, a new address, a price
    // change with an order after it, and a payment.
    await stack.shop.query(
      `update order_lines set quantity = quantity + 2 where order_line_id in (4, 50, 301)`,
    );
    await stack.shop.query(`update orders set status = 'cancelled' where order_id in (7, 90)`);
    await stack.shop.query(`update order_lines set quantity = -3 where order_line_id = 12`);
    await stack.shop.query(
      `insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, discount)
       select 5000, order_id, product_id, quantity, unit_price, discount from order_lines where order_line_id = 20`,
    );
    await stack.shop.query(`update customers set city = 'Elsewhere' where customer_id = 3`);
    await stack.shop.query(`update products set price = price + 10 where product_id = 5`);
    await stack.shop.query(
      `insert into orders (order_id, customer_id, status, placed_at) values (5000, 3, 'paid', now() + interval '1 day');
       insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, discount)
       values (5001, 5000, 5, 1, 10.99, 0);
       insert into payments (payment_id, order_id, amount, method, status, paid_at)
       values (5000, 5000, 10.99, 'card', 'captured', now() + interval '1 day');
       update payments set amount = amount + 1 where payment_id = 30`,
    );
    // An order of a customer the shop does not have yet (its facts point at the unknown customer).
    await stack.shop.query(
      `begin;
       set local session_replication_role = replica;
       insert into orders (order_id, customer_id, status, placed_at) values (5200, 600, 'paid', now() - interval '3 days');
       insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, discount)
       values (5200, 5200, 30, 1, 7.5, 0);
       commit`,
    );
    const second = await runAndCompare('2026-11-21', true);
    // Reconciled by counting the changed orders' lines only (the others by the whole-source totals), as
    // a full count would have: the figures are compared above.
    for (const name of ['shop', 'shop_text'])
      expect(second.summary.reconciliations.find((r) => r.source === name)!.checked).toMatch(
        /^the lines of \d+ changed orders counted, the others by whole-source totals$/,
      );
    expect(second.summary.reconciliations.find((r) => r.source === 'shop_full')!.checked).toBe(
      'every day counted',
    );
    expect(second.summary.transforms.find((t) => t.source === 'shop')!.orderLines.updated).toBeGreaterThan(0);
    expect(
      (await snapshot('shop')).quarantine.filter(
        (q) => q.includes('"key":"12"') && q.includes('"open":true'),
      ),
    ).toHaveLength(1);

    // Round 2: the dirty line fixed, a product quarantined (its lines orphaned), a line moved to
    // another order, a payment by another customer, a new customer and order.
    await stack.shop.query(`update order_lines set quantity = 1 where order_line_id = 12`);
    await stack.shop.query(`update products set price = -1 where product_id = 9`);
    await stack.shop.query(`update order_lines set order_id = 11 where order_line_id = 100`);
    // The customer arrives (every fact of its earlier order now points at it), a product's new
    // price starts before an order already there.
    await stack.shop.query(
      `insert into customers (customer_id, first_name, last_name, email, address_line, city, country, signup_at)
       values (600, 'Late', 'Customer', 'late@example.com', '2 Road', 'City', 'FR', now())`,
    );
    await stack.shop.query(`update products set price = price + 1 where product_id = 5`);
    // The demo shop's payments name no payer: the paid order's customer changes instead.
    await stack.shop.query(`update orders set customer_id = 8 where order_id = 60`);
    await stack.shop.query(
      `insert into customers (customer_id, first_name, last_name, email, address_line, city, country, signup_at)
       values (500, 'New', 'Customer', 'new@example.com', '1 Road', 'Town', 'DE', now());
       insert into orders (order_id, customer_id, status, placed_at) values (5100, 500, 'placed', now());
       insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, discount)
       values (5100, 5100, 9, 2, 3.5, 0), (5101, 5100, 10, 1, 4.25, 0.1)`,
    );
    await runAndCompare('2026-11-22', true);
    const quarantined = (await snapshot('shop')).quarantine;
    expect(quarantined.filter((q) => q.includes('"key":"12"') && q.includes('"open":true'))).toHaveLength(0);
    expect(quarantined.some((q) => q.includes('orphaned_line') && q.includes('"open":true'))).toBe(true);

    // Round 3: the product fixed again, and the customer moving once more.
    await stack.shop.query(`update products set price = 2.5 where product_id = 9`);
    await stack.shop.query(`update customers set city = 'Third Town', country = 'AT' where customer_id = 3`);
    await runAndCompare('2026-11-23', true);
    expect(
      (await snapshot('shop')).quarantine.some(
        (q) => q.includes('orphaned_line') && q.includes('"open":true'),
      ),
    ).toBe(false);

    // Nothing changed since: the whole-source totals the scoped reconciliation kept are the cheap
    // check's, figure for figure, so every day still matches without a count by day.
    const unchanged = await runDailyPipeline(stack.worker, { date: '2026-11-23', models: false });
    for (const name of ['shop', 'shop_text'])
      expect(unchanged.summary.reconciliations.find((r) => r.source === name)!.checked).toBe(
        'by whole-source totals (nothing changed since every day matched)',
      );
  });

  it('takes the full path after a reload, and says why', async () => {
    await resetSourceTables(stack.deps.warehouse, 'shop', 'products');
    await stack.shop.query(`update products set name = name || ' (new)' where product_id = 2`);
    const result = await runDailyPipeline(stack.worker, { date: '2026-11-24', models: false });
    const shop = result.summary.transforms.find((t) => t.source === 'shop')!;
    expect(shop.path?.kind).toBe('full');
    expect(shop.path?.reason).toMatch(/products/);
  });

  it('still reports a line deleted at the source outside the scope, which the extract cannot see', async () => {
    // A change (scoped), and a line of another order deleted: its day is not among the scope's, but
    // the whole-source totals no longer add up, so every day is counted and the difference reported.
    await stack.shop.query(`update order_lines set quantity = quantity + 1 where order_line_id = 40`);
    await stack.shop.query(`delete from order_lines where order_line_id = 200`);
    const text = await runDailyPipeline(stack.worker, { date: '2026-11-25', models: false }).then(
      (result) => JSON.stringify(result.summary),
      (error: unknown) => {
        const texts: string[] = [];
        for (let e = error as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
          texts.push(e.message ?? JSON.stringify(e));
        return texts.join(' | ');
      },
    );
    for (const name of ['shop', 'shop_text', 'shop_full'])
      expect(text).toMatch(new RegExp(`Reconciliation of source ${name} failed: 1 of \\d+ days differ`));
  });
});
