import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import { saveSource } from '../../sources/registry';
import { fillShop, runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';
import { testServices } from '../helpers/services';

const ROOT = path.resolve(__dirname, '../..');

/** Rows per table that name `source`, across the warehouse: what a source left behind. */
async function rowsOfSource(stack: PipelineStack, source: string): Promise<Record<string, number>> {
  const { rows: tables } = await stack.deps.warehouse.query<{ t: string }>(
    `select format('%I.%I', table_schema, table_name) as t from information_schema.columns
      where column_name = 'source' and table_schema in ('core', 'staging', 'ops', 'mart')
        and (table_schema, table_name) in (select table_schema, table_name from information_schema.tables
                                            where table_type = 'BASE TABLE')`,
  );
  const out: Record<string, number> = {};
  for (const { t } of tables) {
    const { rows } = await stack.deps.warehouse.query<{ n: number }>(
      `select count(*)::int as n from ${t} where source = $1`,
      [source],
    );
    if (rows[0].n > 0) out[t] = rows[0].n;
  }
  return out;
}

/**
 * `cartflow source remove` keeps a source's data and says so; `cartflow source purge` deletes all of
 * it — facts, dimension rows, staged tables, quarantine, checkpoints, the definition — after a
 * confirmation, in one transaction, and nothing of any other source.
 */
describe('cartflow source purge', () => {
  let stack: PipelineStack;
  let env: Record<string, string>;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-purge-'));

  beforeAll(async () => {
    stack = await startPipelineStack('source_purge');
    await fillShop(stack.shop, { customers: 20, orders: 40, linesPerOrder: 2 });
    // Dirt, so that both sources quarantine a line.
    await stack.shop.query(`update order_lines set quantity = -1 where order_line_id = 1`);
    // A second source over the same database: the same rows under another name.
    await saveSource(stack.deps.warehouse, {
      ...DEMO_SHOP_SOURCE,
      name: 'outlet',
      connection: { kind: 'postgres', url: stack.databases.shopUrl, schema: 'public' },
    });
    const result = await runDailyPipeline(stack.worker, { date: '2026-11-20', models: false });
    expect(result.status).toBe('succeeded');
    env = {
      CARTFLOW_HOME: home,
      CARTFLOW_WAREHOUSE_URL: stack.databases.warehouseUrl,
      CARTFLOW_SHOP_URL: stack.databases.shopUrl,
      TEMPORAL_ADDRESS: testServices().temporalAddress,
      SMTP_URL: 'smtp://127.0.0.1:1',
    };
  });

  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const cartflow = (args: string[], input?: string) =>
    spawnSync(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'cli/main.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      input: input ?? '',
      timeout: 120_000,
    });

  it('remove unregisters the source, keeps its data and points at purge', async () => {
    const before = await rowsOfSource(stack, 'outlet');
    expect(before['core.fact_order_line']).toBe(79);
    const removed = cartflow(['source', 'remove', 'outlet']);
    expect(removed.status).toBe(0);
    expect(removed.stdout).toMatch(/stay in the warehouse; "cartflow source purge outlet" deletes them/);
    const after = await rowsOfSource(stack, 'outlet');
    delete before['ops.sources'];
    expect(after).toEqual(before);
  });

  it('asks first: without the name typed back, nothing is deleted', async () => {
    const before = await rowsOfSource(stack, 'outlet');
    const refused = cartflow(['source', 'purge', 'outlet'], 'no\n');
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/- facts: \d+ \(.*core\.fact_order_line 79\b/);
    expect(refused.stdout).toMatch(/Nothing deleted/);
    expect(await rowsOfSource(stack, 'outlet')).toEqual(before);
  });

  it('deletes every row of the source, its staged tables and checkpoints, and nothing of another source', async () => {
    const shopBefore = await rowsOfSource(stack, 'shop');
    const counted = await rowsOfSource(stack, 'outlet');
    expect(counted['ops.quarantine']).toBe(1);
    const purged = cartflow(['source', 'purge', 'outlet'], 'outlet\n');
    expect(purged.stderr).toBe('');
    expect(purged.status).toBe(0);
    const dims = counted['core.dim_customer'] + counted['core.dim_product'];
    expect(purged.stdout).toMatch(new RegExp(`- dimension rows: ${dims} `));
    expect(purged.stdout).toMatch(/- staged tables: 5 \(schema staging_outlet, \d+ rows\)/);
    expect(purged.stdout).toMatch(/- quarantine rows: 1\n/);
    expect(purged.stdout).toMatch(/- checkpoints: \d+ \(.*ops\.extract_state 5\b/);
    expect(purged.stdout).toMatch(/Purged source outlet/);

    expect(await rowsOfSource(stack, 'outlet')).toEqual({});
    const { rows } = await stack.deps.warehouse.query(
      `select nspname from pg_namespace where nspname = 'staging_outlet'`,
    );
    expect(rows).toEqual([]);
    expect(await rowsOfSource(stack, 'shop')).toEqual(shopBefore);

    const again = cartflow(['source', 'purge', 'outlet', '--yes']);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/Nothing of a source named "outlet" is in the warehouse/);
    // The other source runs on as before.
    expect((await runDailyPipeline(stack.worker, { date: '2026-11-21', models: false })).status).toBe(
      'succeeded',
    );
  });

  it('--yes purges a registered source without asking', async () => {
    await saveSource(stack.deps.warehouse, { ...DEMO_SHOP_SOURCE, name: 'shop' });
    const purged = cartflow(['source', 'purge', 'shop', '--yes']);
    expect(purged.status).toBe(0);
    expect(purged.stdout).toMatch(/- source definition: registered/);
    expect(await rowsOfSource(stack, 'shop')).toEqual({});
  });
});
