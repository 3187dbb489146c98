import type pg from 'pg';
import { simulateShop, type SimulateSummary } from '../../simulator';
import type { TestDeps } from '../helpers/deps';
import {
  coreFingerprint,
  rowsOf,
  runDailyPipeline,
  startPipelineStack,
  tableDigest,
  type PipelineStack,
} from '../helpers/pipeline';
import type { TestWorker } from '../helpers/temporal';

/**
 * The daily pipeline over a simulated demo shop, on a real worker, real Temporal and real Postgres:
 * what lands in core equals the shop, dirt is quarantined by rule, a second run of the same date
 * changes nothing, and changes between days (a late cancellation, a price change, an address change)
 * are reflected once with the SCD history right.
 */
describe('DailyPipelineWorkflow over the demo shop', () => {
  let stack: PipelineStack;
  let deps: TestDeps;
  let worker: TestWorker;
  let shop: pg.Pool;
  let simulated: SimulateSummary;

  beforeAll(async () => {
    stack = await startPipelineStack('pipeline_shop');
    ({ deps, worker, shop } = stack);
    simulated = await simulateShop(shop, { customers: 5000, days: 30, seed: 7, endDate: '2026-11-20' });
  });

  afterAll(() => stack?.stop());

  /** Lines per day and revenue per day at the shop, by plain SQL on its own tables (UTC days). */
  const shopLines = (excluded: string[]) =>
    rowsOf(
      shop,
      `select to_char(o.placed_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*)::int as lines,
              sum(l.quantity * l.unit_price * (1 - l.discount))::numeric(20, 6)::text as revenue
         from order_lines l join orders o using (order_id)
        where not (l.order_line_id::text = any ($1))
        group by 1`,
      [excluded],
    );
  const warehouseLines = () =>
    rowsOf(
      deps.warehouse,
      `select to_char(d.date, 'YYYY-MM-DD') as day, count(*)::int as lines, sum(f.net_amount)::numeric(20, 6)::text as revenue
         from core.fact_order_line f join core.dim_date d using (date_key) where f.source = 'shop' group by 1`,
    );
  const quarantinedLineIds = async () =>
    (
      await deps.warehouse.query<{ id: string }>(
        `select natural_key as id from ops.quarantine where source = 'shop' and entity = 'order_lines' and resolved_at is null`,
      )
    ).rows.map((r) => r.id);

  it('loads the shop into the star schema: per day, facts equal the shop’s clean lines, and every line is a fact or quarantined', async () => {
    const result = await runDailyPipeline(worker, { date: '2026-11-20' });
    expect(result.status).toBe('succeeded');
    const { summary } = result;

    // Every table was loaded in full, in several chunks (the test's chunks are 2,000 rows).
    const lines = summary.loads.find((l) => l.table === 'order_lines')!;
    expect(lines.mode).toBe('full');
    expect(lines.rows).toBe(simulated.orderLines);
    expect(lines.pieces).toBeGreaterThan(1);
    expect(summary.loads.find((l) => l.table === 'customers')!.rows).toBe(simulated.customers);

    // Dirt is quarantined under the rule it broke, and counted in the summary.
    const negativeQuantity = (
      await shop.query(`select count(*)::int as n from order_lines where quantity < 0`)
    ).rows[0].n;
    const negativePrice = (
      await shop.query(`select count(*)::int as n from order_lines where quantity >= 0 and unit_price < 0`)
    ).rows[0].n;
    expect(negativeQuantity).toBeGreaterThan(0);
    expect(summary.quarantinedByRule.negative_quantity).toBe(negativeQuantity);
    expect(summary.quarantinedByRule.negative_price).toBe(negativePrice);
    expect(summary.quarantinedByRule.duplicate).toBeGreaterThan(0);
    expect(summary.quarantinedByRule.duplicate).toBeLessThanOrEqual(simulated.dirt.orderLineDuplicated);
    const { rows: quarantineRuns } = await deps.warehouse.query(
      `select distinct rule, first_run_id from ops.quarantine where source = 'shop' order by rule`,
    );
    expect(quarantineRuns.map((r) => r.first_run_id)).toEqual(quarantineRuns.map(() => result.runId));

    // Facts per day equal the shop's lines minus the quarantined ones; together they are every line.
    const quarantined = await quarantinedLineIds();
    expect(await warehouseLines()).toEqual(await shopLines(quarantined));
    const factCount = (await deps.warehouse.query(`select count(*)::int as n from core.fact_order_line`))
      .rows[0].n;
    expect(factCount + quarantined.length).toBe(simulated.orderLines);

    // Cancellations and returns are kept as such, with their status.
    const { rows: statuses } = await deps.warehouse.query(
      `select status, count(*)::int as n from core.fact_order_line group by status order by status`,
    );
    expect(statuses.map((s) => s.status)).toEqual(
      expect.arrayContaining(['cancelled', 'returned', 'shipped']),
    );

    // Reconciliation compared every day and found them equal; the run and its summary are recorded.
    expect(summary.reconciliations).toHaveLength(1);
    expect(summary.reconciliations[0].mismatchedDays).toBe(0);
    expect(summary.reconciliations[0].source_lines).toBe(simulated.orderLines);
    const { rows: runs } = await deps.warehouse.query(
      `select status, summary from ops.pipeline_runs where run_id = $1`,
      [result.runId],
    );
    expect(runs[0].status).toBe('succeeded');
    expect(runs[0].summary.quarantinedByRule).toEqual(summary.quarantinedByRule);
  });

  it('changes nothing in core when the same date runs again', async () => {
    const before = await coreFingerprint(deps.warehouse);
    const again = await runDailyPipeline(worker, { date: '2026-11-20' });
    console.log(again.summary.loads);
    expect(again.summary.loads.every((l) => l.mode === 'unchanged' && l.rows === 0)).toBe(true);
    expect(again.summary.transforms[0].orderLines).toEqual({ inserted: 0, updated: 0, deleted: 0 });
    expect(await coreFingerprint(deps.warehouse)).toEqual(before);
  });

  it('reflects a late cancellation, a price change and an address change once, with SCD type-2 history', async () => {
    const { rows: picked } = await shop.query(
      `select o.order_id, o.customer_id, l.product_id
         from orders o join order_lines l using (order_id)
        where o.status = 'shipped' and l.quantity > 0 and l.unit_price >= 0
        order by o.order_id limit 1`,
    );
    const { order_id: orderId, customer_id: customerId, product_id: productId } = picked[0];
    // The shop's trigger stamps updated_at with now(); a real shop's changes happen "now" too, after the history.
    await shop.query(`update orders set status = 'cancelled' where order_id = $1`, [orderId]);
    await shop.query(`update products set price = price + 10 where product_id = $1`, [productId]);
    await shop.query(
      `update customers set city = 'Newtown', address_line = '1 New Street' where customer_id = $1`,
      [customerId],
    );
    const { rows: stamps } = await shop.query(
      `select (select updated_at from customers where customer_id = $1) as c, (select updated_at from products where product_id = $2) as p`,
      [customerId, productId],
    );

    const day2 = await runDailyPipeline(worker, { date: '2026-11-21' });
    const loaded = Object.fromEntries(day2.summary.loads.map((l) => [l.table, l]));
    expect(loaded.orders).toMatchObject({ mode: 'incremental', rows: 1 });
    expect(loaded.products).toMatchObject({ mode: 'incremental', rows: 1 });
    expect(loaded.customers).toMatchObject({ mode: 'incremental', rows: 1 });
    expect(loaded.order_lines).toMatchObject({ mode: 'unchanged', rows: 0 });
    // The changed rows were appended to the tables' changes, and the current copies equal the shop.
    const { rows: appended } = await deps.warehouse.query(
      `select (select count(*) from staging_shop.orders__changes)::int as orders,
              (select count(*) from staging_shop.customers__changes)::int as customers`,
    );
    expect(appended[0]).toEqual({ orders: 1, customers: 1 });
    for (const [table, key] of [
      ['orders', 'order_id'],
      ['customers', 'customer_id'],
      ['products', 'product_id'],
    ] as const)
      expect(await tableDigest(deps.warehouse, `staging_shop.${table}__current`, key)).toEqual(
        await tableDigest(shop, table, key),
      );

    // The cancellation: the order's lines now say cancelled, still one fact per line.
    const { rows: facts } = await deps.warehouse.query(
      `select status, count(*)::int as n from core.fact_order_line where order_id = $1 group by status`,
      [String(orderId)],
    );
    const lineCount = (
      await shop.query(`select count(*)::int as n from order_lines where order_id = $1`, [orderId])
    ).rows[0].n;
    expect(facts).toHaveLength(1);
    expect(facts[0].status).toBe('cancelled');
    expect(facts[0].n).toBeLessThanOrEqual(lineCount);

    // The customer: two versions, the old one closed when the new one starts, at the change's time.
    const { rows: versions } = await deps.warehouse.query(
      `select version, city, address_line, is_current, valid_from, valid_to from core.dim_customer
        where source = 'shop' and customer_id = $1 order by version`,
      [String(customerId)],
    );
    expect(versions).toHaveLength(2);
    expect(versions[0]).toMatchObject({ version: 1, is_current: false });
    expect(versions[0].valid_from).toBe(-Infinity);
    expect(versions[1]).toMatchObject({
      version: 2,
      city: 'Newtown',
      address_line: '1 New Street',
      is_current: true,
    });
    expect(versions[1].valid_from.getTime()).toBe(stamps[0].c.getTime());
    expect(versions[0].valid_to.getTime()).toBe(versions[1].valid_from.getTime());
    expect(versions[1].valid_to).toBe(Infinity);

    // The product: a new price version; facts before the change keep pointing at the old one.
    const { rows: productVersions } = await deps.warehouse.query(
      `select product_key, version, price::text, valid_from from core.dim_product
        where source = 'shop' and product_id = $1 order by version`,
      [String(productId)],
    );
    expect(productVersions).toHaveLength(2);
    expect(Number(productVersions[1].price) - Number(productVersions[0].price)).toBeCloseTo(10);
    expect(productVersions[1].valid_from.getTime()).toBe(stamps[0].p.getTime());
    const { rows: pointing } = await deps.warehouse.query(
      `select count(*) filter (where product_key = $1)::int as old, count(*) filter (where product_key = $2)::int as new
         from core.fact_order_line f where f.source = 'shop' and f.product_key in ($1, $2)`,
      [productVersions[0].product_key, productVersions[1].product_key],
    );
    expect(pointing[0].old).toBeGreaterThan(0);
    expect(pointing[0].new).toBe(0);
    expect(day2.summary.transforms[0].customers.newVersions).toBe(1);
    expect(day2.summary.transforms[0].products.newVersions).toBe(1);

    // Reconciled, and a third run changes nothing again: each change is reflected once.
    expect(await warehouseLines()).toEqual(await shopLines(await quarantinedLineIds()));
    const before = await coreFingerprint(deps.warehouse);
    const day2again = await runDailyPipeline(worker, { date: '2026-11-21' });
    expect(day2again.summary.transforms[0].customers.newVersions).toBe(0);
    expect(await coreFingerprint(deps.warehouse)).toEqual(before);
  });
});
