import {
  coreFingerprint,
  fillShop,
  runDailyPipeline,
  startPipelineStack,
  type PipelineStack,
} from '../helpers/pipeline';

/** Every message of an error and its causes, or a run's summary as JSON: where a failure says what it is. */
function outcomeText(outcome: unknown): string {
  const texts: string[] = [];
  for (let e = outcome as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    texts.push(e.message ?? JSON.stringify(e));
  return texts.join(' | ');
}

/** The xmin of every canonical row of the source: unchanged xmins mean the mapping was not run again. */
async function canonicalFingerprint(stack: PipelineStack): Promise<string> {
  const parts: string[] = [];
  for (const table of ['customers', 'products', 'orders', 'order_lines'])
    parts.push(
      (
        await stack.deps.warehouse.query<{ f: string }>(
          `select count(*) || '/' || md5(coalesce(string_agg(xmin::text || ':' || ctid::text, ',' order by ctid), '')) as f
             from staging.canonical_${table} where source = 'shop'`,
        )
      ).rows[0].f,
    );
  return parts.join(' ');
}

/**
 * A day's cost follows its change: a run over unchanged sources maps nothing again and writes
 * nothing, and its reconciliation is settled by the source's whole-source totals; a change is
 * transformed and reconciled day by day as before, and a row the extract cannot see (deleted at the
 * source) still fails the reconciliation.
 */
describe('an unchanged day', () => {
  let stack: PipelineStack;
  const shopRevenue = async () =>
    (
      await stack.shop.query<{ amount: string }>(
        `select sum(quantity * unit_price * (1 - discount))::text as amount from order_lines`,
      )
    ).rows[0].amount;

  beforeAll(async () => {
    stack = await startPipelineStack('pipeline_unchanged_day');
    await fillShop(stack.shop, { customers: 30, orders: 60, linesPerOrder: 3 });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('maps nothing again and writes nothing when no source changed, and still reconciles', async () => {
    const first = await runDailyPipeline(stack.worker, { date: '2026-11-20', models: false });
    expect(first.status).toBe('succeeded');
    const canonical = await canonicalFingerprint(stack);
    const core = await coreFingerprint(stack.deps.warehouse);

    const second = await runDailyPipeline(stack.worker, { date: '2026-11-21', models: false });
    expect(second.status).toBe('succeeded');
    expect(second.summary.transforms[0].orderLines).toEqual({ inserted: 0, updated: 0, deleted: 0 });
    expect(await canonicalFingerprint(stack)).toBe(canonical);
    expect(await coreFingerprint(stack.deps.warehouse)).toEqual({
      ...core,
      // The new logical date is a new day of dim_date; nothing else is written.
      dim_date: expect.any(String),
    });
    const reconciled = second.summary.reconciliations[0];
    expect(reconciled).toMatchObject({ mismatchedDays: 0, source_lines: 180, warehouse_lines: 180 });
    expect(reconciled.source_amount).toBe(first.summary.reconciliations[0].source_amount);
    const { rows } = await stack.deps.warehouse.query(
      `select 1 from core.dim_date where date = '2026-11-21'`,
    );
    expect(rows).toHaveLength(1);
  });

  it('transforms and reconciles a change as before', async () => {
    await stack.shop.query(`update order_lines set quantity = quantity + 1 where order_line_id in (5, 77)`);
    const third = await runDailyPipeline(stack.worker, { date: '2026-11-21', models: false });
    expect(third.status).toBe('succeeded');
    expect(third.summary.transforms[0].orderLines.updated).toBe(2);
    const reconciled = third.summary.reconciliations[0];
    expect(reconciled.mismatchedDays).toBe(0);
    expect(Number(reconciled.warehouse_amount)).toBeCloseTo(Number(await shopRevenue()), 6);
    // And unchanged again: the same as the run before.
    const fourth = await runDailyPipeline(stack.worker, { date: '2026-11-21', models: false });
    expect(fourth.summary.reconciliations[0].warehouse_amount).toBe(reconciled.warehouse_amount);
  });

  it('still fails the reconciliation when a row is deleted at the source, which the extract cannot see', async () => {
    await stack.shop.query(`delete from order_lines where order_line_id = 9`);
    const outcome = await runDailyPipeline(stack.worker, { date: '2026-11-21', models: false }).then(
      (result) => ({ message: JSON.stringify(result.summary) }),
      (error: unknown) => error,
    );
    expect(outcomeText(outcome)).toMatch(/Reconciliation of source shop failed: 1 of \d+ days differ/);
  });
});
