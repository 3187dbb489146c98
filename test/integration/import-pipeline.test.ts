import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { importDocuments } from '../../imports/documents';
import { importOnlineRetail } from '../../imports/online-retail';
import { importTransactions } from '../../imports/transactions';
import { createTestDeps, type TestDeps } from '../helpers/deps';
import { coreFingerprint, runDailyPipeline } from '../helpers/pipeline';
import { createTestDatabases, type TestDatabases } from '../helpers/services';
import { startTestWorker, type TestWorker } from '../helpers/temporal';

const DATA = path.resolve(__dirname, '../../../shared/data');
const RETAIL = path.join(DATA, 'online-retail-sample.csv.gz');
const SALON = path.join(DATA, 'salon-transactions.csv');

/** A CSV line split with quotes honoured; independent of the importer's parser. */
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

/**
 * What core must hold for the UCI file, from the file and the documented rules alone: C invoices are
 * cancelled, invoices of only negative quantities returned (both with positive quantities), a line
 * repeating an earlier line of its invoice (same product, quantity and price) is quarantined as a
 * duplicate, and lines without a CustomerID belong to the unknown customer.
 */
function retailInCore() {
  const lines = zlib
    .gunzipSync(fs.readFileSync(RETAIL))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
  const header = splitCsv(lines[0]);
  const at = (name: string) => header.indexOf(name);
  const rows = lines.slice(1).map(splitCsv);
  const allNegative = new Map<string, boolean>();
  for (const r of rows)
    allNegative.set(
      r[at('InvoiceNo')],
      (allNegative.get(r[at('InvoiceNo')]) ?? true) && Number(r[at('Quantity')]) < 0,
    );
  const seen = new Set<string>();
  const byStatus: Record<string, { lines: number; cents: number }> = {};
  let duplicates = 0;
  let withoutCustomer = 0;
  const customers = new Set<string>();
  for (const r of rows) {
    const invoice = r[at('InvoiceNo')];
    const quantity = Number(r[at('Quantity')]);
    const price = Number(r[at('UnitPrice')]);
    if (r[at('CustomerID')]) customers.add(r[at('CustomerID')]);
    const key = [invoice, r[at('StockCode')], quantity, price].join('|');
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    const status = invoice.startsWith('C') ? 'cancelled' : allNegative.get(invoice) ? 'returned' : 'paid';
    const sign = status === 'paid' ? 1 : -1;
    byStatus[status] ??= { lines: 0, cents: 0 };
    byStatus[status].lines++;
    byStatus[status].cents += Math.round(sign * quantity * price * 100);
    if (!r[at('CustomerID')]) withoutCustomer++;
  }
  return { byStatus, duplicates, withoutCustomer, customers: customers.size };
}

function salonInCore() {
  const rows = fs
    .readFileSync(SALON, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .slice(1)
    .map((l) => l.split(','))
    .filter(([, , total]) => total !== '');
  return {
    lines: rows.length,
    customers: new Set(rows.map(([, c]) => c)).size,
    cents: rows.reduce((sum, [, , total]) => sum + Math.round(Number(total) * 100), 0),
    // Month-only dates are the 1st: January 2020's sales all fall on 2020-01-01.
    january2020: rows.filter(([date]) => date.startsWith('2020-01')).length,
  };
}

/** A few customer documents, with their figures counted by hand. */
const DOCUMENTS = [
  {
    _id: 'A',
    name: 'Ada Lovelace',
    address: { city: 'London', country: 'GB' },
    products: [{ id: 'P1', name: 'Gear', price: 12.5 }],
    orders: [
      {
        id: 'O1',
        status: 'delivered',
        comments: 'Leave at the door',
        date: '2024-03-01T10:15:00Z',
        items: [{ product: 'P1', quantity: 2 }],
      },
      { id: 'O2', status: 'cancelled', date: '2024-03-02', items: ['P1'] },
    ],
  },
  {
    _id: 'B',
    name: 'Charles Babbage',
    orders: [{ id: 'O3', status: 'paid', date: '2024-03-03', total: 99.9 }],
  },
];

describe('imported files through the daily pipeline into core', () => {
  let databases: TestDatabases;
  let deps: TestDeps;
  let worker: TestWorker;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-import-pipeline-'));
  const documents = path.join(dir, 'homestead.jsonl');
  let importDeps: { warehouse: TestDeps['warehouse']; timezone: string };

  beforeAll(async () => {
    databases = await createTestDatabases('import_pipeline');
    deps = createTestDeps(databases);
    worker = await startTestWorker(deps);
    importDeps = { warehouse: deps.warehouse, timezone: deps.config.timezone };
    fs.writeFileSync(documents, DOCUMENTS.map((d) => JSON.stringify(d)).join('\n'));
  });

  afterAll(async () => {
    await worker?.stop();
    await deps?.close();
    await databases?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const coreBySource = async (source: string) =>
    (
      await deps.warehouse.query<{ status: string; lines: number; cents: string }>(
        `select status, count(*)::int as lines, round(sum(net_amount) * 100)::bigint::text as cents
           from core.fact_order_line where source = $1 group by status order by status`,
        [source],
      )
    ).rows;

  it('builds core from the imports exactly as the files say, reconciled', async () => {
    const retail = await importOnlineRetail(importDeps, { file: RETAIL, currency: 'GBP' });
    const salon = await importTransactions(importDeps, { file: SALON });
    await importDocuments(importDeps, { file: documents, source: 'homestead' });
    const date = [retail.lastDate!, salon.lastDate!].sort().at(-1)!;
    const run = await runDailyPipeline(worker, { date, timezone: deps.config.timezone });
    expect(run.status).toBe('succeeded');
    expect(run.summary.reconciliations.map((r) => [r.source, r.mismatchedDays])).toEqual(
      expect.arrayContaining([
        ['online_retail', 0],
        ['salon_transactions', 0],
        ['homestead', 0],
      ]),
    );

    const expected = retailInCore();
    expect(await coreBySource('online_retail')).toEqual(
      Object.entries(expected.byStatus)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([status, v]) => ({ status, lines: v.lines, cents: String(v.cents) })),
    );
    const { rows: retailFacts } = await deps.warehouse.query(`
      select (select count(*)::int from core.dim_customer where source = 'online_retail') as customers,
             (select count(*)::int from core.fact_order_line where source = 'online_retail' and customer_key = 0) as without_customer,
             (select count(*)::int from ops.quarantine where source = 'online_retail' and rule = 'duplicate' and resolved_at is null) as duplicates`);
    expect(retailFacts[0]).toEqual({
      customers: expected.customers,
      without_customer: expected.withoutCustomer,
      duplicates: expected.duplicates,
    });

    const s = salonInCore();
    expect(await coreBySource('salon_transactions')).toEqual([
      { status: 'paid', lines: s.lines, cents: String(s.cents) },
    ]);
    const { rows: salonFacts } = await deps.warehouse.query(`
      select (select count(*)::int from core.dim_customer where source = 'salon_transactions') as customers,
             (select count(*)::int from core.fact_order_line f join core.dim_date d using (date_key)
               where f.source = 'salon_transactions' and d.date = '2020-01-01') as january2020`);
    expect(salonFacts[0]).toEqual({ customers: s.customers, january2020: s.january2020 });

    expect(await coreBySource('homestead')).toEqual([
      { status: 'cancelled', lines: 1, cents: '1250' },
      { status: 'paid', lines: 1, cents: '9990' },
      { status: 'shipped', lines: 1, cents: '2500' },
    ]);
  }, 600_000);

  it('changes nothing in core when the files are imported again and the day runs again', async () => {
    const before = await coreFingerprint(deps.warehouse);
    const again = await importTransactions(importDeps, { file: SALON });
    expect(again).toMatchObject({ inserted: 0, updated: 0 });
    const docs = await importDocuments(importDeps, { file: documents, source: 'homestead' });
    expect(docs).toMatchObject({ inserted: 0, updated: 0 });
    const run = await runDailyPipeline(worker, { date: '2021-11-30', timezone: deps.config.timezone });
    expect(run.status).toBe('succeeded');
    expect(await coreFingerprint(deps.warehouse)).toEqual(before);
  }, 600_000);
});
