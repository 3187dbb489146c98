import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { importDocuments } from '../../imports/documents';
import { createPool } from '../../lib/db';
import { createTestDatabases, type TestDatabases } from '../helpers/services';

/**
 * A few Homestead-like customer documents: a customer with address{}, products[] and orders[] (id,
 * status, comments, date, items or a total), in the shapes such exports take — and some dirt.
 */
const DOCUMENTS: unknown[] = [
  {
    _id: { $oid: '65f0a1' },
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    address: { street: '12 St James’s Square', city: 'London', zip: 'SW1Y 4JH', country: 'GB' },
    products: [
      { id: 'P1', name: 'Brass gear', price: 12.5, category: 'parts' },
      { id: 'P2', name: 'Punch card', price: '0.99' },
    ],
    orders: [
      {
        id: 'O1',
        status: 'delivered',
        comments: 'Leave at the door, please.',
        date: '2024-03-01T10:15:00Z',
        items: [{ product: 'P1', quantity: 2 }, 'P2'],
      },
      {
        id: 'O2',
        status: 'cancelled',
        comments: ['Ordered twice', { text: 'Refund to card' }],
        date: { $date: 1709719200000 },
        items: [{ product: 'P1', quantity: 1 }],
      },
    ],
  },
  {
    id: 'C2',
    firstName: 'Charles',
    lastName: 'Babbage',
    address: { line1: '1 Dorset St', city: 'London', country: 'GB' },
    products: [{ id: 'P3', name: 'Difference engine', price: 1500 }],
    orders: [
      { id: 'O3', status: 'paid', date: '2024-03-02', total: 99.9 },
      { id: 'O4', status: 'pending', date: 'next Tuesday', items: ['P3'] },
      {
        id: 'O5',
        date: '2024-03-05 09:00',
        comments: 'Discount agreed by phone',
        items: [{ product: { id: 'P3' }, quantity: 1, price: 1400 }],
      },
    ],
  },
  {
    customerId: 'C3',
    name: 'Grace Hopper',
    orders: [
      {
        id: 'O6',
        status: 'shipped',
        comments: 'Gift wrap 🎁\nThanks!',
        date: '2024-03-07',
        items: [{ sku: 'P9', quantity: 3, price: 2 }],
      },
      { id: 'O1', status: 'paid', date: '2024-03-08', items: [{ sku: 'P9', quantity: 1, price: 2 }] },
    ],
  },
  { name: 'Nobody' },
];

/** What the documents hold, counted by hand from DOCUMENTS and the rules in docs/imports.md. */
const EXPECTED = {
  documents: 4,
  customers: 3, // the fourth has no id: missing_key
  orders: 5, // O1, O2, O3, O5, O6; O4's date is no date; C3's second O1 repeats an order id
  lines: 6, // O1: P1 ×2, P2; O2: P1; O3: its total; O5: P3; O6: P9 ×3
  revenue: 2 * 12.5 + 0.99 + 99.9 + 1400 + 3 * 2, // all but the cancelled O2
  cancelled: 12.5,
  quarantined: { missing_key: 1, unparseable_date: 1, duplicate: 1 },
};

describe('cartflow import documents', () => {
  let databases: TestDatabases;
  let warehouse: pg.Pool;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-docs-'));
  const jsonl = path.join(dir, 'homestead.jsonl');
  const array = path.join(dir, 'homestead-array.json');

  beforeAll(async () => {
    databases = await createTestDatabases('import_documents');
    warehouse = createPool(databases.warehouseUrl, 'test');
    fs.writeFileSync(jsonl, DOCUMENTS.map((d) => JSON.stringify(d)).join('\n') + '\n');
    fs.writeFileSync(array, JSON.stringify(DOCUMENTS, null, 2));
  });

  afterAll(async () => {
    await warehouse?.end();
    await databases?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('normalises customers, products, orders (with their comments) and lines, each order keeping its customer', async () => {
    const summary = await importDocuments(
      { warehouse, timezone: 'UTC' },
      { file: jsonl, source: 'homestead' },
    );
    expect(summary).toMatchObject({
      rowsRead: EXPECTED.documents,
      loaded: EXPECTED.customers,
      quarantined: EXPECTED.quarantined,
    });
    expect(summary.facts).toMatchObject({
      customers: EXPECTED.customers,
      orders: EXPECTED.orders,
      order_lines: EXPECTED.lines,
      revenue: Math.round(EXPECTED.revenue * 100) / 100,
      cancelled_or_returned_value: EXPECTED.cancelled,
    });
    const { rows } = await warehouse.query(`
      select o.order_id, o.customer_id, o.status, o.comments, count(l.*)::int as lines,
             coalesce(sum(l.quantity * l.unit_price), 0)::float8 as amount
        from staging_homestead.orders o left join staging_homestead.order_lines l using (order_id)
       group by 1, 2, 3, 4 order by 1`);
    expect(rows).toEqual([
      {
        order_id: 'O1',
        customer_id: '65f0a1',
        status: 'delivered',
        comments: 'Leave at the door, please.',
        lines: 2,
        amount: 25.99,
      },
      {
        order_id: 'O2',
        customer_id: '65f0a1',
        status: 'cancelled',
        comments: 'Ordered twice\n\nRefund to card',
        lines: 1,
        amount: 12.5,
      },
      { order_id: 'O3', customer_id: 'C2', status: 'paid', comments: null, lines: 1, amount: 99.9 },
      {
        order_id: 'O5',
        customer_id: 'C2',
        status: null,
        comments: 'Discount agreed by phone',
        lines: 1,
        amount: 1400,
      },
      {
        order_id: 'O6',
        customer_id: 'C3',
        status: 'shipped',
        comments: 'Gift wrap 🎁\nThanks!',
        lines: 1,
        amount: 6,
      },
    ]);
    const customers = await warehouse.query(
      `select customer_id, first_name, last_name, city, postal_code from staging_homestead.customers order by 1`,
    );
    expect(customers.rows).toEqual([
      {
        customer_id: '65f0a1',
        first_name: 'Ada',
        last_name: 'Lovelace',
        city: 'London',
        postal_code: 'SW1Y 4JH',
      },
      { customer_id: 'C2', first_name: 'Charles', last_name: 'Babbage', city: 'London', postal_code: null },
      { customer_id: 'C3', first_name: 'Grace', last_name: 'Hopper', city: null, postal_code: null },
    ]);
    const quarantine = await warehouse.query(
      `select entity, rule, detail from ops.quarantine where source = 'homestead' order by rule`,
    );
    expect(quarantine.rows).toEqual([
      {
        entity: 'file:documents/orders',
        rule: 'duplicate',
        detail: "homestead.jsonl, line 3: order 'O1' appears in an earlier document or earlier in this one",
      },
      {
        entity: 'file:documents',
        rule: 'missing_key',
        detail: 'homestead.jsonl, line 4: the document has no customer id (_id, id or customerId)',
      },
      {
        entity: 'file:documents/orders',
        rule: 'unparseable_date',
        detail: "homestead.jsonl, line 2: order 'O4': date 'next Tuesday' is not a date",
      },
    ]);
  });

  it('reads the same documents as one JSON array, and changes nothing: they are the same rows', async () => {
    const summary = await importDocuments(
      { warehouse, timezone: 'UTC' },
      { file: array, source: 'homestead' },
    );
    expect(summary).toMatchObject({ rowsRead: EXPECTED.documents, inserted: 0, updated: 0 });
    const again = await importDocuments({ warehouse, timezone: 'UTC' }, { file: jsonl, source: 'homestead' });
    expect(again).toMatchObject({ inserted: 0, updated: 0, seenBefore: true });
  });
});
