import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import { saveSource } from '../../sources/registry';
import { fillShop, runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';

/**
 * A source whose orders' placed_at is text, one of them not a date: the order is quarantined
 * (`unparseable_date`), its lines with it, and reconciliation counts them on the `(no date)` bucket
 * at the source too. PostgreSQL 15 has no pg_input_is_valid, so there the source's count casts each
 * date and fails on that one; it then counts by placed_at as text and the warehouse finds the days
 * (`npm run test:postgres -- 15 test/integration/pipeline-dirty-date.test.ts` runs it there).
 */
describe('a source with a placed_at that is not a date', () => {
  let stack: PipelineStack;

  beforeAll(async () => {
    stack = await startPipelineStack('pipeline_dirty_date');
    await fillShop(stack.shop, { customers: 10, orders: 40, linesPerOrder: 2 });
    await saveSource(stack.deps.warehouse, {
      ...DEMO_SHOP_SOURCE,
      name: 'dated',
      connection: { kind: 'postgres', url: stack.databases.shopUrl, schema: 'public' },
      mapping: {
        ...DEMO_SHOP_SOURCE.mapping,
        orders: `select order_id, customer_id, status,
                        case when order_id = 7 then 'someday' else placed_at::text end as placed_at,
                        currency, updated_at as changed_at
                   from orders`,
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function quarantined(): Promise<string[]> {
    const { rows } = await stack.deps.warehouse.query<{ q: string }>(
      `select entity || ' ' || natural_key || ' ' || rule as q from ops.quarantine
        where source = 'dated' and resolved_at is null order by 1`,
    );
    return rows.map((r) => r.q);
  }

  it('quarantines the order and its lines, and reconciles, a full day and a changed one', async () => {
    for (const date of ['2026-11-20', '2026-11-21']) {
      const result = await runDailyPipeline(stack.worker, { date, models: false });
      expect(result.summary.failures ?? []).toEqual([]);
      const dated = result.summary.reconciliations.find((r) => r.source === 'dated')!;
      const shop = result.summary.reconciliations.find((r) => r.source === 'shop')!;
      expect(dated.mismatchedDays).toBe(0);
      // The same lines as the shop's, two of them quarantined with their order.
      expect([dated.source_lines, dated.warehouse_lines]).toEqual([shop.source_lines, shop.source_lines]);
      expect(dated.quarantined_lines).toBe(shop.quarantined_lines + 2);
      expect(await quarantined()).toEqual(
        expect.arrayContaining([
          'order_lines 13 orphaned_line',
          'order_lines 14 orphaned_line',
          'orders 7 unparseable_date',
        ]),
      );
      // The next day, a line of that order changed (a key-scoped transform, its order in the scope).
      await stack.shop.query(`update order_lines set quantity = quantity + 1 where order_id = 7`);
    }
  });
});
