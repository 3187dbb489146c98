import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lastImportedDate } from '../../imports/last-date';
import { createCliContext, type CliContext } from '../../cli/context';
import { runDailyFor } from '../../cli/run';
import { createLogger } from '../../lib/log';
import { testConfig } from '../helpers/config';
import { createTestDeps, type TestDeps } from '../helpers/deps';
import { createTestDatabases, testServices, type TestDatabases } from '../helpers/services';
import { startTestWorker, type TestWorker } from '../helpers/temporal';

const ROOT = path.resolve(__dirname, '../..');
const SALON = path.resolve(ROOT, '../shared/data/salon-transactions.csv');

describe('the cartflow import command', () => {
  let databases: TestDatabases;
  let deps: TestDeps;
  let worker: TestWorker;
  let context: CliContext;
  let env: Record<string, string>;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-import-cli-'));

  beforeAll(async () => {
    databases = await createTestDatabases('import_cli');
    deps = createTestDeps(databases);
    worker = await startTestWorker(deps);
    env = {
      CARTFLOW_HOME: home,
      CARTFLOW_WAREHOUSE_URL: databases.warehouseUrl,
      CARTFLOW_SHOP_URL: databases.shopUrl,
      TEMPORAL_ADDRESS: testServices().temporalAddress,
      SMTP_URL: 'smtp://127.0.0.1:1',
    };
    context = createCliContext(testConfig(env), createLogger('warn'));
  });

  afterAll(async () => {
    await context?.close();
    await worker?.stop();
    await deps?.close();
    await databases?.drop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const cartflow = (...args: string[]) =>
    spawnSync(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'cli/main.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 120_000,
    });

  it('imports a file, prints its summary as JSON, and shows no progress bar when nobody watches', () => {
    const result = cartflow(
      'import',
      'transactions',
      SALON,
      '--customer',
      'Customer',
      '--date',
      'Date',
      '--amount',
      'Total',
      '--json',
    );
    expect(result.status).toBe(0);
    expect(result.stderr.replace(/npm warn.*\n/g, '')).toBe('');
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({
      kind: 'transactions',
      source: 'salon_transactions',
      rowsRead: 17852,
      loaded: 17850,
    });
    expect(summary.quarantined).toEqual({ missing_value: 2 });
  });

  it('prints a readable summary that says how to build the star schema', () => {
    const result = cartflow('import', 'transactions', SALON);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('staged rows      0 new, 0 updated, 17,850 unchanged');
    expect(result.stdout).toContain('missing_value        2');
    expect(result.stdout).toContain('cartflow run daily --date 2021-11-30');
  });

  it('refuses a file it cannot read with the reason, exit code 2, and imports nothing', () => {
    const file = path.join(home, 'orders.csv');
    fs.writeFileSync(file, 'id,when,total\n1,2024-01-01,5\n');
    const result = cartflow('import', 'online-retail', file);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      'cartflow import: nothing was imported. orders.csv: no InvoiceNo column (looked for InvoiceNo, Invoice, InvoiceNumber). The header is "id", "when", "total".',
    );
  });

  it('runs the day as of the last date in the imported data, and core holds the file', async () => {
    const asOf = await lastImportedDate(deps.warehouse);
    expect(asOf).toBe('2021-11-30');
    const outcome = await runDailyFor(context, worker.client, asOf!, undefined, worker.taskQueues.etl);
    expect(outcome.status).toBe('succeeded');
    const { rows } = await deps.warehouse.query(
      `select count(*)::int as n from core.fact_order_line where source = 'salon_transactions'`,
    );
    expect(rows[0].n).toBe(17850);
  }, 300_000);
});
