import { formatSummary } from '../../contracts/pipeline-summary';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import { resetSourceTables } from '../../sources/registry';
import { fillShop, runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';

/**
 * Issue 12, defect 7: slow mappings must show. The run's summary gives each step's time — extract per
 * table, transform (and each mapping) per source, reconciliation per source — and staged copies get an
 * index on their key, which a full load leaves them without, so mappings that join by key stay fast.
 */
describe('the time of each step, and the staged copies’ key indexes', () => {
  let stack: PipelineStack;

  beforeAll(async () => {
    stack = await startPipelineStack('pipeline_step_times');
    await fillShop(stack.shop, { customers: 300, orders: 1_000, linesPerOrder: 3 });
  });

  afterAll(() => stack?.stop());

  /** Per staged table of the shop, how many indexes it has on exactly its key. */
  const keyIndexes = async () => {
    const out: { table: string; indexes: number }[] = [];
    for (const table of DEMO_SHOP_SOURCE.tables) {
      const { rows } = await stack.deps.warehouse.query<{ n: number }>(
        `select count(*)::int as n from pg_index i
          where i.indrelid = $1::regclass
            and (select array_agg(a.attname::text order by k.n)
                   from unnest(i.indkey::int2[]) with ordinality k(attnum, n)
                   join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum) = $2::text[]`,
        [`staging_shop.${table.name}`, table.primaryKey],
      );
      out.push({ table: table.name, indexes: rows[0].n });
    }
    return out;
  };

  it('times every table, transform, mapping and reconciliation, and prints them', async () => {
    const { summary } = await runDailyPipeline(stack.worker, { date: '2026-11-20', models: false });
    expect(summary.loads.map((l) => [l.table, l.mode])).toEqual([
      ['customers', 'full'],
      ['products', 'full'],
      ['orders', 'full'],
      ['order_lines', 'full'],
      ['payments', 'full'],
    ]);
    for (const load of summary.loads) expect(load.durationMs).toBeGreaterThan(0);
    const [transform] = summary.transforms;
    expect(transform.durationMs).toBeGreaterThan(0);
    expect(Object.keys(transform.mappingMs ?? {})).toEqual([
      'customers',
      'products',
      'orders',
      'orderLines',
      'payments',
    ]);
    // The mappings are part of the transform.
    const mappings = Object.values(transform.mappingMs!).reduce((a, b) => a + b, 0);
    expect(mappings).toBeLessThanOrEqual(transform.durationMs!);
    expect(summary.reconciliations[0].durationMs).toBeGreaterThan(0);

    const text = formatSummary(summary);
    expect(text).toMatch(
      /- shop\.order_lines: 3,000 \(full, \d+ chunks\) in \d+(\.\d)? m?s — key indexed in \d+ ms/,
    );
    expect(text).toMatch(/Star schema from shop \(\d+(\.\d)? m?s\):\n- mappings: customers \d+ ms, products/);
    expect(text).toMatch(/Reconciliation of shop: every day matches \(\d+(\.\d)? m?s\)/);
  });

  it('indexes each staged table on its key after a full load, once, and again after a reload', async () => {
    const all = DEMO_SHOP_SOURCE.tables.map((t) => ({ table: t.name, indexes: 1 }));
    expect(await keyIndexes()).toEqual(all);
    // An incremental run keeps the index and adds none.
    await stack.shop.query(`update customers set city = 'Elsewhere' where customer_id = 3`);
    const next = await runDailyPipeline(stack.worker, { date: '2026-11-21', models: false });
    expect(next.summary.loads.find((l) => l.table === 'customers')?.mode).toBe('incremental');
    expect(await keyIndexes()).toEqual(all);
    // A full reload loads without it, then builds it again.
    await resetSourceTables(stack.deps.warehouse, 'shop', 'orders');
    const reloaded = await runDailyPipeline(stack.worker, { date: '2026-11-21', models: false });
    const orders = reloaded.summary.loads.find((l) => l.table === 'orders')!;
    expect(orders.mode).toBe('full');
    expect(orders.notes.join(' ')).toMatch(/key indexed in \d+ ms/);
    expect(await keyIndexes()).toEqual(all);
  });
});
