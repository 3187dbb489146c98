import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import type { SourceDefinition } from '../../sources/definition';
import { saveSource } from '../../sources/registry';
import { createCliContext, type CliContext } from '../../cli/context';
import { dailyExitStatus, runDailyFor } from '../../cli/run';
import { addSource } from '../../cli/source';
import { createLogger } from '../../lib/log';
import { formatSummary } from '../../contracts/pipeline-summary';
import { testConfig } from '../helpers/config';
import { runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';
import { testServices } from '../helpers/services';

/**
 * A marketplace export nobody here wrote, as a Postgres source: an order lists an item once per unit
 * (two identical rows are quantity 2), one order has no lines, someone other than the order's
 * customer pays for an order, and a refund is a negative payment. Each figure below is worked out
 * by hand from the rows inserted here.
 */
describe('a marketplace source: repeated lines, orders without lines, payments of their own', () => {
  let stack: PipelineStack;
  let context: CliContext;

  const market = (options: Partial<SourceDefinition> = {}): SourceDefinition => ({
    name: 'market',
    connection: { kind: 'postgres', url: stack.databases.shopUrl, schema: 'market' },
    tables: [
      { name: 'buyers', primaryKey: ['id'] },
      { name: 'items', primaryKey: ['id'] },
      { name: 'orders', primaryKey: ['id'] },
      { name: 'order_items', primaryKey: ['order_id', 'item_no'] },
      { name: 'payments', primaryKey: ['id'] },
    ],
    mapping: {
      customers: 'select id as customer_id, city from buyers',
      products: 'select id as product_id, title as name, price from items',
      orders:
        'select id as order_id, buyer_id as customer_id, state as status, placed as placed_at from orders',
      orderLines: `select order_id || '-' || item_no as order_line_id, order_id, item_id as product_id,
                          1 as quantity, price as unit_price from order_items`,
      payments: `select id as payment_id, order_id, payer_id as customer_id, amount, paid as paid_at,
                        kind as method from payments`,
    },
    ...options,
  });

  beforeAll(async () => {
    stack = await startPipelineStack('pipeline_market');
    await stack.shop.query(`
      create schema market;
      create table market.buyers (id text primary key, city text);
      create table market.items (id text primary key, title text, price numeric);
      create table market.orders (id text primary key, buyer_id text, state text, placed timestamptz);
      create table market.order_items (order_id text, item_no int, item_id text, price numeric,
                                       primary key (order_id, item_no));
      create table market.payments (id text primary key, order_id text, payer_id text, amount numeric,
                                    paid timestamptz, kind text);
      insert into market.buyers values ('b1', 'Lyon'), ('b2', 'Nantes'), ('b3', 'Lille');
      insert into market.items values ('i1', 'Mug', 10.00), ('i2', 'Lamp', 20.00);
      insert into market.orders values
        ('o1', 'b1', 'shipped', '2026-11-10T10:00:00Z'),
        ('o2', 'b2', 'paid', '2026-11-11T10:00:00Z'),
        ('o3', 'b3', 'cancelled', '2026-11-12T10:00:00Z');
      -- o1: two mugs, one row per unit, and a lamp; o2: a lamp; o3: no lines.
      insert into market.order_items values ('o1', 1, 'i1', 10.00), ('o1', 2, 'i1', 10.00),
        ('o1', 3, 'i2', 20.00), ('o2', 1, 'i2', 20.00);
      insert into market.payments values
        ('p1', 'o1', 'b1', 40.00, '2026-11-10T10:05:00Z', 'card'),
        ('p2', 'o2', 'b3', 20.00, '2026-11-11T10:05:00Z', 'card'),
        ('p3', 'o1', null, -10.00, '2026-11-14T09:00:00Z', 'card');
    `);
    // The demo shop, empty here, stays out of the way.
    await saveSource(stack.deps.warehouse, { ...DEMO_SHOP_SOURCE, enabled: false });
    context = createCliContext(
      testConfig({
        CARTFLOW_WAREHOUSE_URL: stack.databases.warehouseUrl,
        CARTFLOW_SHOP_URL: stack.databases.shopUrl,
        TEMPORAL_ADDRESS: testServices().temporalAddress,
        SMTP_URL: 'smtp://127.0.0.1:1',
      }),
      createLogger('warn'),
    );
  });

  afterAll(async () => {
    await context?.close();
    await stack?.stop();
  });

  const warehouse = () => stack.deps.warehouse;
  const factLines = async (order: string) =>
    (
      await warehouse().query<{ order_line_id: string; quantity: string; source_lines: number }>(
        `select order_line_id, quantity::text, source_lines from core.fact_order_line
          where source = 'market' and order_id = $1 order by order_line_id`,
        [order],
      )
    ).rows;

  it('by default quarantines a repeated line, and warns — with a failing exit status — when that is a material share of revenue', async () => {
    await saveSource(warehouse(), market());
    const outcome = await runDailyFor(
      context,
      stack.worker.client,
      '2031-03-14',
      undefined,
      stack.worker.taskQueues.etl,
    );
    expect(outcome.status).toBe('succeeded');
    const reconciliation = outcome.summary!.reconciliations.find((r) => r.source === 'market')!;
    expect(reconciliation.mismatchedDays).toBe(0);
    expect(reconciliation.quarantined_lines).toBe(1);
    // 10.00 of 60.00 is quarantined: 16.67%, above the default threshold of 1%.
    expect(reconciliation.quarantineWarning).toMatch(
      /market: 1 of 4 lines \(25\.00%\) and 10\.00 of 60\.00 revenue \(16\.67%\) quarantined/,
    );
    const text = formatSummary(outcome.summary!);
    expect(text).toMatch(/Warning: market: 1 of 4 lines/);
    expect(text).toMatch(/Quarantined rows of market by rule:\n- order_lines duplicate: 1/);
    expect(dailyExitStatus(outcome)).toBe(3);
    expect(await factLines('o1')).toEqual([
      { order_line_id: 'o1-1', quantity: '1', source_lines: 1 },
      { order_line_id: 'o1-3', quantity: '1', source_lines: 1 },
    ]);

    // The threshold is the source's to set: 30% lets the same run pass.
    await saveSource(warehouse(), market({ quarantineThreshold: 0.3 }));
    const relaxed = await runDailyPipeline(stack.worker, { date: '2031-03-14' });
    expect(relaxed.summary.reconciliations[0].quarantineWarning).toBeUndefined();
  });

  it('sums repeated identical lines into one with their quantities added when the source says duplicates: sum', async () => {
    // As `cartflow source add market.json --duplicates sum` registers it, checked against the source.
    await addSource(context, market(), { duplicates: 'sum' });
    const { rows: registered } = await warehouse().query(
      `select definition from ops.sources where name = 'market'`,
    );
    expect(registered[0].definition.duplicates).toBe('sum');
    const result = await runDailyPipeline(stack.worker, { date: '2031-03-14' });
    const reconciliation = result.summary.reconciliations[0];
    expect(reconciliation).toMatchObject({
      mismatchedDays: 0,
      source_lines: 4,
      warehouse_lines: 4,
      quarantined_lines: 0,
    });
    expect(reconciliation.quarantineWarning).toBeUndefined();
    expect(await factLines('o1')).toEqual([
      { order_line_id: 'o1-1', quantity: '2', source_lines: 2 },
      { order_line_id: 'o1-3', quantity: '1', source_lines: 1 },
    ]);
    const { rows: open } = await warehouse().query(
      `select * from ops.quarantine where source = 'market' and resolved_at is null`,
    );
    expect(open).toEqual([]);
  });

  it('keeps repeated identical lines as separate lines when the source says duplicates: keep', async () => {
    await saveSource(warehouse(), market({ duplicates: 'keep' }));
    const result = await runDailyPipeline(stack.worker, { date: '2031-03-14' });
    expect(result.summary.reconciliations[0]).toMatchObject({ mismatchedDays: 0, quarantined_lines: 0 });
    expect(await factLines('o1')).toEqual([
      { order_line_id: 'o1-1', quantity: '1', source_lines: 1 },
      { order_line_id: 'o1-2', quantity: '1', source_lines: 1 },
      { order_line_id: 'o1-3', quantity: '1', source_lines: 1 },
    ]);
  });

  it('credits a payment to its own payer, and maps a negative payment as a refund, not as dirt', async () => {
    const { rows } = await warehouse().query(
      `select p.payment_id, p.amount::text, p.status, c.customer_id
         from core.fact_payment p join core.dim_customer c using (customer_key)
        where p.source = 'market' order by p.payment_id`,
    );
    expect(rows).toEqual([
      { payment_id: 'p1', amount: '40.00', status: 'captured', customer_id: 'b1' },
      // Paid by b3 for b2's order.
      { payment_id: 'p2', amount: '20.00', status: 'captured', customer_id: 'b3' },
      // No payer given: the order's customer.
      { payment_id: 'p3', amount: '-10.00', status: 'refunded', customer_id: 'b1' },
    ]);
    const { rows: quarantined } = await warehouse().query(
      `select * from ops.quarantine where source = 'market' and entity = 'payments'`,
    );
    expect(quarantined).toEqual([]);
  });

  it('has one core.fact_order row per order, an order without lines included', async () => {
    const { rows } = await warehouse().query(
      `select f.order_id, f.status, c.customer_id, f.date_key, f.line_count, f.item_quantity::text,
              f.gross_amount::text, f.net_amount::text, f.paid_amount::text
         from core.fact_order f join core.dim_customer c using (customer_key)
        where f.source = 'market' order by f.order_id`,
    );
    expect(rows).toEqual([
      {
        order_id: 'o1',
        status: 'shipped',
        customer_id: 'b1',
        date_key: 20261110,
        line_count: 3,
        item_quantity: '3',
        gross_amount: '40.00',
        net_amount: '40.00',
        paid_amount: '30.00',
      },
      {
        order_id: 'o2',
        status: 'paid',
        customer_id: 'b2',
        date_key: 20261111,
        line_count: 1,
        item_quantity: '1',
        gross_amount: '20.00',
        net_amount: '20.00',
        paid_amount: '20.00',
      },
      {
        order_id: 'o3',
        status: 'cancelled',
        customer_id: 'b3',
        date_key: 20261112,
        line_count: 0,
        item_quantity: '0',
        gross_amount: '0',
        net_amount: '0',
        paid_amount: '0',
      },
    ]);
    // Every order's date is in dim_date, the one without lines too.
    const { rows: dates } = await warehouse().query(
      `select count(*)::int as n from core.fact_order f join core.dim_date d using (date_key) where f.source = 'market'`,
    );
    expect(dates[0].n).toBe(3);
    // Running the day again writes nothing.
    const again = await runDailyPipeline(stack.worker, { date: '2031-03-14' });
    expect(again.summary.transforms.find((t) => t.source === 'market')!.orders).toEqual({
      inserted: 0,
      updated: 0,
      deleted: 0,
    });
  });
});
