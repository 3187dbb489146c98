import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createCliContext, type CliContext } from '../../cli/context';
import { addSource, readSourceFile } from '../../cli/source';
import { createPool } from '../../lib/db';
import { createLogger } from '../../lib/log';
import { testConfig } from '../helpers/config';
import { createTestDeps, type TestDeps } from '../helpers/deps';
import { coreFingerprint, runDailyPipeline } from '../helpers/pipeline';
import { createTestDatabases, testServices, type TestDatabases } from '../helpers/services';
import { startTestWorker, type TestWorker } from '../helpers/temporal';

const projectRoot = path.resolve(__dirname, '../..');
const NORTHWIND_SQL = path.resolve(projectRoot, '../shared/data/northwind.sql');

/**
 * Northwind, a shop whose schema is nothing like cartflow's, loaded from ../shared/data/northwind.sql
 * and mapped the way docs/pipeline.md teaches: after a run, the warehouse's revenue equals Northwind's
 * sum of unit_price × quantity × (1 − discount) over order_details.
 */
describe('Northwind as a source', () => {
  let databases: TestDatabases;
  let deps: TestDeps;
  let worker: TestWorker;
  let context: CliContext;
  let northwind: pg.Pool;
  const northwindDb = `northwind_${crypto.randomBytes(4).toString('hex')}`;
  const services = testServices();
  const northwindUrl = services.postgresUrlTemplate.replace('{database}', northwindDb);

  beforeAll(async () => {
    databases = await createTestDatabases('pipeline_northwind');
    const admin = new pg.Client({ connectionString: services.postgresAdminUrl });
    await admin.connect();
    await admin.query(`create database "${northwindDb}"`);
    await admin.end();
    northwind = createPool(northwindUrl, 'test-northwind', 2);
    await northwind.query(fs.readFileSync(NORTHWIND_SQL, 'utf8'));
    deps = createTestDeps(databases);
    worker = await startTestWorker(deps);
    context = createCliContext(
      testConfig({
        CARTFLOW_WAREHOUSE_URL: databases.warehouseUrl,
        CARTFLOW_SHOP_URL: databases.shopUrl,
        TEMPORAL_ADDRESS: services.temporalAddress,
        SMTP_URL: 'smtp://127.0.0.1:1',
      }),
      createLogger('warn'),
    );
  });

  afterAll(async () => {
    await context?.close();
    await worker?.stop();
    await deps?.close();
    await northwind?.end();
    await databases?.drop();
    const admin = new pg.Client({ connectionString: services.postgresAdminUrl });
    await admin.connect();
    await admin.query(`drop database if exists "${northwindDb}" with (force)`);
    await admin.end();
  });

  it('registers the documented definition, checked against the database', async () => {
    const definition = await readSourceFile(path.join(projectRoot, 'sources/examples/northwind.ts'));
    const { source, replaced } = await addSource(context, definition, { url: northwindUrl });
    expect(replaced).toBe(false);
    expect(source.name).toBe('northwind');
    expect(source.tables.map((t) => t.name)).toContain('order_details');
  });

  it('refuses a definition whose mapping does not fit the database, naming the problem', async () => {
    const definition = (await readSourceFile(path.join(projectRoot, 'sources/examples/northwind.ts'))) as {
      mapping: Record<string, string>;
    };
    const broken = {
      ...definition,
      name: 'northwind_broken',
      mapping: {
        ...definition.mapping,
        orders: definition.mapping.orders.replace('order_date as placed_at', 'order_date'),
      },
    };
    await expect(addSource(context, broken, { url: northwindUrl })).rejects.toThrow(
      /mapping\.orders returns no placed_at/,
    );
  });

  it("loads Northwind: the warehouse's revenue equals Northwind's, line for line and day by day", async () => {
    const result = await runDailyPipeline(worker, { date: '1998-05-06' });
    expect(result.status).toBe('succeeded');
    const loads = Object.fromEntries(
      result.summary.loads.filter((l) => l.source === 'northwind').map((l) => [l.table, l.rows]),
    );
    expect(loads).toMatchObject({ customers: 91, products: 77, orders: 830, order_details: 2155 });
    expect(result.summary.quarantinedByRule).toEqual({});

    const expected = await northwind.query<{ exact: string; float: number; lines: number }>(
      `select round(sum(unit_price::numeric * quantity * (1 - discount::numeric)), 2)::text as exact,
              sum(unit_price::float8 * quantity * (1 - discount::float8)) as float,
              count(*)::int as lines
         from order_details`,
    );
    const actual = await deps.warehouse.query<{ revenue: string; lines: number }>(
      `select round(sum(net_amount), 2)::text as revenue, count(*)::int as lines
         from core.fact_order_line where source = 'northwind'`,
    );
    expect(actual.rows[0]).toEqual({ revenue: expected.rows[0].exact, lines: expected.rows[0].lines });
    expect(Math.abs(Number(actual.rows[0].revenue) - expected.rows[0].float)).toBeLessThan(0.01);
    expect(actual.rows[0].revenue).toBe('1265793.04');

    const northwindRecon = result.summary.reconciliations.find((r) => r.source === 'northwind')!;
    expect(northwindRecon.mismatchedDays).toBe(0);
    expect(northwindRecon.days).toBeGreaterThan(400);

    // Facts point at real dimension rows: customers by company, products with their category.
    const { rows: joined } = await deps.warehouse.query(
      `select count(*)::int as n from core.fact_order_line f
         join core.dim_customer c on c.customer_key = f.customer_key
         join core.dim_product p on p.product_key = f.product_key
         join core.dim_date d on d.date_key = f.date_key
        where f.source = 'northwind' and c.company_name is not null and p.category is not null`,
    );
    expect(joined[0].n).toBe(2155);
  });

  it('changes nothing when run again: whole-table sources are idempotent too', async () => {
    const before = await coreFingerprint(deps.warehouse);
    const again = await runDailyPipeline(worker, { date: '1998-05-06' });
    expect(again.summary.loads.find((l) => l.table === 'order_details')!.mode).toBe('full');
    expect(await coreFingerprint(deps.warehouse)).toEqual(before);
  });
});
