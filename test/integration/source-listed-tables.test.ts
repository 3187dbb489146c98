import { createCliContext, type CliContext } from '../../cli/context';
import { addSource } from '../../cli/source';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import type { SourceDefinition } from '../../sources/definition';
import { saveSource } from '../../sources/registry';
import { createLogger } from '../../lib/log';
import { testConfig } from '../helpers/config';
import { fillShop, runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';
import { testServices } from '../helpers/services';

/** Every message of an error and its causes, or of a run's summary: where a failure says what it is. */
function outcomeText(outcome: unknown): string {
  const texts: string[] = [];
  for (let e = outcome as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    texts.push(e.message ?? JSON.stringify(e));
  return texts.join(' | ');
}

/**
 * A mapping reads exactly the tables its source lists: `source add` checks it against what will be
 * staged, not only against the source database, and a run never lets it read a staged copy of a
 * table the source no longer lists (such a copy is frozen at its last load).
 */
describe('a mapping reads only the tables its source lists', () => {
  let stack: PipelineStack;
  let context: CliContext;
  const full = (): SourceDefinition => ({ ...DEMO_SHOP_SOURCE, tables: [...DEMO_SHOP_SOURCE.tables] });
  const withoutPayments = (): SourceDefinition => ({
    ...full(),
    tables: DEMO_SHOP_SOURCE.tables.filter((t) => t.name !== 'payments'),
  });

  beforeAll(async () => {
    stack = await startPipelineStack('source_listed_tables');
    await fillShop(stack.shop, { customers: 20, orders: 40, linesPerOrder: 2 });
    await stack.shop.query(
      `insert into payments (payment_id, order_id, amount, method, status, paid_at)
       select order_id, order_id, 10, 'card', 'captured', placed_at from orders`,
    );
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

  it('source add refuses a mapping that reads a table the source does not list, naming it and the fix', async () => {
    // payments exists in the source database, so the mapping runs there; it is just never staged.
    await expect(addSource(context, withoutPayments(), { url: stack.databases.shopUrl })).rejects.toThrow(
      /mapping\.payments reads table payments, which is not among the tables of source shop .*add it to tables/,
    );
    const narrowed: SourceDefinition = {
      ...full(),
      tables: full().tables.map((t) =>
        t.name === 'products'
          ? { ...t, columns: ['product_id', 'sku', 'name', 'brand', 'price', 'updated_at'] }
          : t,
      ),
    };
    await expect(addSource(context, narrowed, { url: stack.databases.shopUrl })).rejects.toThrow(
      /mapping\.products reads column category, which is not staged: the columns listed for products leave it out/,
    );
    const { rows } = await stack.deps.warehouse.query(`select name from ops.sources`);
    expect(rows).toEqual([]);
  });

  it('a run never reads the staged copy of a table its source no longer lists', async () => {
    await addSource(context, full(), { url: stack.databases.shopUrl });
    const first = await runDailyPipeline(stack.worker, { date: '2026-11-20', models: false });
    expect(first.status).toBe('succeeded');
    const paid = async () =>
      (await stack.deps.warehouse.query<{ n: number }>(`select count(*)::int as n from core.fact_payment`))
        .rows[0].n;
    expect(await paid()).toBe(40);

    // A definition stored without the check (as before it existed): payments unlisted, still mapped,
    // and its staged copy still there. The staged copy must not be read.
    await saveSource(stack.deps.warehouse, withoutPayments());
    await stack.shop.query(`update payments set amount = 20`);
    const second = await runDailyPipeline(stack.worker, { date: '2026-11-21', models: false }).then(
      (result) => ({ message: JSON.stringify(result.summary) }),
      (error: unknown) => error,
    );
    expect(outcomeText(second)).toMatch(
      /mapping\.payments reads table payments, which is not among the tables/,
    );
    const { rows } = await stack.deps.warehouse.query(`select distinct amount::text from core.fact_payment`);
    expect(rows).toEqual([{ amount: '10.00' }]);
  });

  it('replacing a definition with one that no longer lists a table drops its staged copy and checkpoint', async () => {
    const mapping = Object.fromEntries(
      Object.entries(DEMO_SHOP_SOURCE.mapping).filter(([entity]) => entity !== 'payments'),
    ) as SourceDefinition['mapping'];
    await addSource(context, { ...withoutPayments(), mapping }, { url: stack.databases.shopUrl });
    const { rows } = await stack.deps.warehouse.query<{ staged: string | null; states: number }>(
      `select to_regclass('staging_shop.payments')::text as staged,
              (select count(*)::int from ops.extract_state where source = 'shop' and table_name = 'payments') as states`,
    );
    expect(rows[0]).toEqual({ staged: null, states: 0 });
    const third = await runDailyPipeline(stack.worker, { date: '2026-11-21', models: false });
    expect(third.status).toBe('succeeded');
  });
});
