import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { importOnlineRetail } from '../../imports/online-retail';
import { createPool } from '../../lib/db';
import type pg from 'pg';
import { createTestDatabases, type TestDatabases } from '../helpers/services';

const DATA = path.resolve(__dirname, '../../../shared/data');
const FILE = path.join(DATA, 'online-retail-sample.csv.gz');

/** A plain CSV line split, quotes and doubled quotes honoured: enough for this file, and independent of csv-parse. */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === ',' && !quoted) {
      out.push(field);
      field = '';
    } else {
      field += c;
    }
  }
  out.push(field);
  return out;
}

/** The figures the import must reproduce, computed straight from the file. */
function expectedFigures() {
  const lines = zlib
    .gunzipSync(fs.readFileSync(FILE))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
  const header = splitCsv(lines[0]);
  const col = (name: string) => header.indexOf(name);
  const rows = lines.slice(1).map(splitCsv);
  const invoices = new Set<string>();
  const cancelled = new Set<string>();
  const customers = new Set<string>();
  let cancelledLines = 0;
  let returnedLines = 0;
  let withoutCustomer = 0;
  let salesCents = 0;
  let cancelledCents = 0;
  for (const r of rows) {
    const invoice = r[col('InvoiceNo')];
    const quantity = Number(r[col('Quantity')]);
    const cents = Math.round(quantity * Number(r[col('UnitPrice')]) * 100);
    invoices.add(invoice);
    if (r[col('CustomerID')]) customers.add(r[col('CustomerID')]);
    else withoutCustomer++;
    if (invoice.startsWith('C')) {
      cancelled.add(invoice);
      cancelledLines++;
      cancelledCents -= cents;
    } else if (quantity < 0) returnedLines++;
    else salesCents += cents;
  }
  return {
    rows: rows.length,
    invoices: invoices.size,
    cancelledInvoices: cancelled.size,
    cancelledLines,
    returnedLines,
    customers: customers.size,
    withoutCustomer,
    sales: salesCents / 100,
    cancelledValue: cancelledCents / 100,
  };
}

describe('cartflow import online-retail on the real UCI file', () => {
  let databases: TestDatabases;
  let warehouse: pg.Pool;
  const expected = expectedFigures();

  beforeAll(async () => {
    databases = await createTestDatabases('import_online_retail');
    warehouse = createPool(databases.warehouseUrl, 'test');
  });

  afterAll(async () => {
    await warehouse?.end();
    await databases?.drop();
  });

  it('stages every line and counts invoices, cancellations, returns, customers and revenue as the file has them', async () => {
    const summary = await importOnlineRetail(
      { warehouse, timezone: 'Europe/London' },
      { file: FILE, currency: 'GBP' },
    );
    expect(summary.rowsRead).toBe(expected.rows);
    expect(summary.loaded).toBe(expected.rows);
    expect(summary.inserted).toBe(expected.rows);
    expect(summary.quarantined).toEqual({});
    expect(summary.facts).toMatchObject({
      invoices: expected.invoices,
      cancelled_invoices: expected.cancelledInvoices,
      cancelled_lines: expected.cancelledLines,
      returned_lines: expected.returnedLines,
      customers: expected.customers,
      lines_without_customer: expected.withoutCustomer,
      sales: expected.sales,
      cancelled_value: expected.cancelledValue,
    });
    expect([summary.firstDate, summary.lastDate]).toEqual(['2010-12-01', '2011-06-26']);
    const { rows } = await warehouse.query(
      `select count(*)::int as n, count(distinct invoice_no)::int as invoices from staging_online_retail.invoice_lines`,
    );
    expect(rows[0]).toEqual({ n: expected.rows, invoices: expected.invoices });
  });

  it('changes nothing when the same file is imported again', async () => {
    const summary = await importOnlineRetail(
      { warehouse, timezone: 'Europe/London' },
      { file: FILE, currency: 'GBP' },
    );
    expect(summary).toMatchObject({ inserted: 0, updated: 0, unchanged: expected.rows, seenBefore: true });
  });
});
