import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { importRees46 } from '../../imports/rees46';
import { importTransactions } from '../../imports/transactions';
import { ImportRefused } from '../../imports/input';
import { createPool } from '../../lib/db';
import { createTestDatabases, type TestDatabases } from '../helpers/services';

const DATA = path.resolve(__dirname, '../../../shared/data');
const SALON = path.join(DATA, 'salon-transactions.csv');
const REES46 = path.join(DATA, 'rees46-events-sample.csv');

const cents = (text: string) => Math.round(Number(text) * 100);

/** The salon file as the rules read it, computed with a plain split (the file has no quoted fields). */
function salonFigures() {
  const lines = fs
    .readFileSync(SALON, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const rows = lines.slice(1).map((l) => l.split(','));
  const kept = rows.filter(([, , total]) => total !== '');
  return {
    rows: rows.length,
    missingTotal: rows.length - kept.length,
    kept: kept.length,
    customers: new Set(kept.map(([, customer]) => customer)).size,
    monthOnly: kept.filter(([date]) => /^\d{4}-\d{2}$/.test(date)).length,
    zero: kept.filter(([, , total]) => Number(total) === 0).length,
    revenueCents: kept.reduce((sum, [, , total]) => sum + cents(total), 0),
    firstDate: kept.map(([date]) => date.slice(0, 10)).sort()[0],
    lastDate: kept
      .map(([date]) => date.slice(0, 10))
      .sort()
      .at(-1),
  };
}

function rees46Figures() {
  const lines = fs
    .readFileSync(REES46, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const header = lines[0].split(',');
  const rows = lines.slice(1).map((l) => l.split(','));
  const at = (name: string) => header.indexOf(name);
  const byType: Record<string, number> = {};
  for (const r of rows) byType[r[at('event_type')]] = (byType[r[at('event_type')]] ?? 0) + 1;
  return {
    rows: rows.length,
    byType,
    sessions: new Set(rows.map((r) => r[at('user_session')])).size,
    purchaseCents: rows
      .filter((r) => r[at('event_type')] === 'purchase')
      .reduce((s, r) => s + cents(r[at('price')]), 0),
  };
}

describe('cartflow import transactions and rees46 on the real files', () => {
  let databases: TestDatabases;
  let warehouse: pg.Pool;
  const deps = () => ({ warehouse, timezone: 'UTC' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-import-'));

  beforeAll(async () => {
    databases = await createTestDatabases('import_files');
    warehouse = createPool(databases.warehouseUrl, 'test');
  });

  afterAll(async () => {
    await warehouse?.end();
    await databases?.drop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('imports the salon log: month-only dates as the 1st, zero totals kept, missing totals quarantined', async () => {
    const expected = salonFigures();
    const summary = await importTransactions(deps(), { file: SALON });
    expect(summary).toMatchObject({
      source: 'salon_transactions',
      rowsRead: expected.rows,
      loaded: expected.kept,
      inserted: expected.kept,
      quarantined: { missing_value: expected.missingTotal },
      firstDate: expected.firstDate.length === 7 ? `${expected.firstDate}-01` : expected.firstDate,
      lastDate: expected.lastDate,
    });
    expect(summary.facts).toMatchObject({
      customers: expected.customers,
      month_only_dates: expected.monthOnly,
      zero_amount_rows: expected.zero,
      sales: expected.revenueCents / 100,
    });
    const { rows } = await warehouse.query(`
      select count(*)::int as n, count(distinct customer_id)::int as customers,
             round(sum(amount) * 100)::bigint::text as cents,
             count(*) filter (where date_precision = 'month' and placed_at = date_trunc('month', placed_at))::int as first_of_month
        from staging_salon_transactions.transactions`);
    expect(rows[0]).toEqual({
      n: expected.kept,
      customers: expected.customers,
      cents: String(expected.revenueCents),
      first_of_month: expected.monthOnly,
    });
    const quarantine = await warehouse.query(
      `select rule, detail from ops.quarantine where source = 'salon_transactions' order by natural_key`,
    );
    expect(quarantine.rows).toHaveLength(expected.missingTotal);
    expect(quarantine.rows[0].detail).toMatch(/^salon-transactions\.csv, line \d+: Total is empty$/);
  });

  it('changes nothing when the salon log is imported again', async () => {
    const before = await warehouse.query(`select count(*)::int as n from ops.quarantine`);
    const summary = await importTransactions(deps(), { file: SALON });
    expect(summary).toMatchObject({
      inserted: 0,
      updated: 0,
      unchanged: salonFigures().kept,
      seenBefore: true,
    });
    const after = await warehouse.query(`select count(*)::int as n from ops.quarantine`);
    expect(after.rows).toEqual(before.rows);
  });

  it('imports a whitespace-separated log without a header, with YYYYMMDD dates and quantities', async () => {
    // A CDNOW-like log: customer, date, units, amount; leading blanks and runs of spaces.
    const rows: string[] = [];
    let revenueCents = 0;
    for (let i = 0; i < 500; i++) {
      const customer = String(1 + (i % 37)).padStart(5, '0');
      const day = String(1 + (i % 28)).padStart(2, '0');
      const units = 1 + (i % 3);
      const amount = ((i * 7) % 50) + 0.99;
      revenueCents += Math.round(amount * 100);
      rows.push(
        `${i % 2 ? '   ' : ''}${customer} 1997${String(1 + (i % 12)).padStart(2, '0')}${day}  ${units}   ${amount.toFixed(2)}`,
      );
    }
    rows.push('00099 19971301  1  5.00'); // month 13
    rows.push('00099 19970101  0  5.00'); // zero units
    const file = path.join(tmp, 'cdnow.txt');
    fs.writeFileSync(file, rows.join('\n') + '\n');
    const summary = await importTransactions(deps(), {
      file,
      header: false,
      columns: ['customer', 'date', 'units', 'amount'],
      customer: 'customer',
      date: 'date',
      quantity: 'units',
      amount: 'amount',
    });
    expect(summary).toMatchObject({
      source: 'cdnow',
      rowsRead: 502,
      loaded: 500,
      quarantined: { unparseable_date: 1, invalid_quantity: 1 },
      firstDate: '1997-01-01',
    });
    expect(summary.facts).toMatchObject({ customers: 37, sales: revenueCents / 100 });
    const { rows: staged } = await warehouse.query(
      `select count(*)::int as n, round(sum(amount) * 100)::bigint::text as cents, sum(quantity)::int as units
         from staging_cdnow.transactions`,
    );
    expect(staged[0]).toEqual({
      n: 500,
      cents: String(revenueCents),
      units: Array.from({ length: 500 }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b, 0),
    });
  });

  it('refuses a file it cannot understand, saying which column or line, and imports nothing', async () => {
    const wrong = path.join(tmp, 'wrong.csv');
    fs.writeFileSync(wrong, 'when,who,what\nsoon,a,1\nlater,b,2\n');
    await expect(
      importTransactions(deps(), { file: wrong, customer: 'who', date: 'when', amount: 'what' }),
    ).rejects.toThrow(
      'Column when: 2 of 2 values are no date in a format I know (e.g. "soon" on line 2, "later" on line 3)',
    );
    await expect(importTransactions(deps(), { file: wrong })).rejects.toThrow(
      'wrong.csv: no Customer column (looked for Customer, CustomerID, Customer_Id, Client, User, UserID). The header is "when", "who", "what". Name it with --customer COLUMN.',
    );
    const quoted = path.join(tmp, 'quoted.csv');
    fs.writeFileSync(quoted, 'Date,Customer,Total\n2020-01-01,a,1\n2020-01-02,"b,2\n');
    await expect(importTransactions(deps(), { file: quoted })).rejects.toThrow(ImportRefused);
    await expect(importTransactions(deps(), { file: quoted })).rejects.toThrow(/quoted\.csv.*line 3/);
    const { rows } = await warehouse.query(
      `select to_regclass('staging_wrong.transactions') as t, to_regclass('staging_quoted.transactions') as q`,
    );
    expect(rows[0]).toEqual({ t: null, q: null });
  });

  it('imports REES46 events where the events API puts them, once, marked as already forwarded', async () => {
    const expected = rees46Figures();
    const summary = await importRees46(deps(), { file: REES46 });
    expect(summary).toMatchObject({
      rowsRead: expected.rows,
      loaded: expected.rows,
      inserted: expected.rows,
      quarantined: {},
    });
    expect(summary.facts).toMatchObject({
      views: expected.byType.view ?? 0,
      carts: expected.byType.cart ?? 0,
      purchases: expected.byType.purchase ?? 0,
      sessions: expected.sessions,
      purchase_revenue: expected.purchaseCents / 100,
    });
    const { rows } = await warehouse.query(`
      select (select count(*)::int from staging.raw_events) as events,
             (select count(*)::int from staging.raw_event_ids where forwarded_at is null) as unforwarded,
             (select count(distinct user_session)::int from staging.raw_events) as sessions,
             (select round(sum(price * quantity) * 100)::bigint::text from staging.raw_events where event_type = 'purchase') as cents`);
    expect(rows[0]).toEqual({
      events: expected.rows,
      unforwarded: 0,
      sessions: expected.sessions,
      cents: String(expected.purchaseCents),
    });
    const again = await importRees46(deps(), { file: REES46 });
    expect(again).toMatchObject({ inserted: 0, unchanged: expected.rows });
    const count = await warehouse.query(`select count(*)::int as n from staging.raw_events`);
    expect(count.rows[0].n).toBe(expected.rows);
  });

  it('quarantines REES46 events that break the events contract, by rule', async () => {
    const file = path.join(tmp, 'events.csv');
    fs.writeFileSync(
      file,
      [
        'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session',
        '2019-10-02 10:00:00 UTC,view,1,2,,acme,10.00,7,s1',
        '2019-10-02 10:00:01 UTC,click,1,2,,acme,10.00,7,s1',
        '2019-10-02 10:00:02 UTC,cart,1,2,,acme,-1,7,s1',
        '2019-10-02 10:00:03 UTC,purchase,1,2,,acme,10.00,7,',
        'soon,purchase,1,2,,acme,10.00,7,s1',
      ].join('\n'),
    );
    const summary = await importRees46(deps(), { file, source: 'rees46_dirty' });
    expect(summary).toMatchObject({
      rowsRead: 5,
      loaded: 1,
      quarantined: { invalid_event_type: 1, negative_price: 1, missing_value: 1, unparseable_date: 1 },
    });
  });
});
