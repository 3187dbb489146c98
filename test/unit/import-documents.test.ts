import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { DateColumn } from '../../imports/dates';
import { normalizeDocument } from '../../imports/document-shape';
import { openInput } from '../../imports/input';
import { readJsonDocuments, type DocumentText } from '../../imports/json-documents';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-docs-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function documentsOf(content: string | Buffer, name = 'docs.json'): Promise<DocumentText[]> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  const out: DocumentText[] = [];
  for await (const doc of readJsonDocuments(openInput(file))) out.push(doc);
  return out;
}

describe('reading a file of JSON documents', () => {
  const docs = [
    { _id: 'a', note: 'brace } and bracket ] in "quotes"' },
    { _id: 'b', orders: [{ id: 1 }] },
  ];

  it('reads JSON lines, with their line numbers', async () => {
    const found = await documentsOf(docs.map((d) => JSON.stringify(d)).join('\n') + '\n\n');
    expect(found.map((d) => [d.line, JSON.parse(d.text)])).toEqual([
      [1, docs[0]],
      [2, docs[1]],
    ]);
  });

  it('reads a pretty-printed JSON array, gzipped too, with the line each document starts on', async () => {
    const text = JSON.stringify(docs, null, 2);
    const found = await documentsOf(zlib.gzipSync(Buffer.from(text)), 'docs.json.gz');
    expect(found.map((d) => JSON.parse(d.text))).toEqual(docs);
    expect(found.map((d) => d.line)).toEqual([2, 6]);
  });

  it('reads pretty-printed documents written one after another', async () => {
    const found = await documentsOf(docs.map((d) => JSON.stringify(d, null, 2)).join('\n'));
    expect(found.map((d) => JSON.parse(d.text))).toEqual(docs);
  });

  it('hands a broken line or a bare value on for the quarantine, and reads on', async () => {
    const found = await documentsOf(`{"_id": "a"}\n{"_id": \n42\n{"_id": "b"}\n`);
    expect(found.map((d) => d.text)).toEqual(['{"_id": "a"}', '{"_id":', '42', '{"_id": "b"}']);
    const inArray = await documentsOf(`[{"_id": "a"}, 42, "x", {"_id": "b"}]`);
    expect(inArray.map((d) => d.text)).toEqual(['{"_id": "a"}', '42', '"x"', '{"_id": "b"}']);
  });

  it('refuses what is no documents file, a cut-short array, and text after it', async () => {
    await expect(documentsOf('id,name\n1,a\n')).rejects.toThrow(
      /a documents file is JSON lines or a JSON array of objects; it starts with "i"/,
    );
    await expect(documentsOf('[{"_id": "a"}, {"_id": ')).rejects.toThrow(
      /line 1: the document starting here never ends/,
    );
    await expect(documentsOf('[{"_id": "a"}] x')).rejects.toThrow(/text after the end of the JSON array/);
    await expect(documentsOf('   ')).rejects.toThrow(/the file is empty/);
  });
});

describe('the shape of a customer document', () => {
  it('flattens a Homestead-like customer: ids, name, address, products, orders with comments and items', () => {
    const dates = new DateColumn('orders[].date');
    const doc = normalizeDocument(
      {
        _id: { $oid: '64a1f0c2e1' },
        name: 'Ada King Lovelace',
        Email: 'ada@example.com',
        address: { street: '12 St James’s Square', city: 'London', zip: 'SW1Y 4JH', country: 'GB' },
        products: [{ id: 'P1', name: 'Brass gear', price: 12.5 }, 'P2'],
        orders: [
          {
            id: 'O1',
            status: 'Delivered',
            comments: ['Leave at the door', { text: 'Ring twice' }],
            date: { $date: 1709719200000 },
            items: [{ product: 'P1', qty: 2 }, 'P2', { product: { id: 'P3', price: '1,200.00' } }],
          },
          { order_id: 7, date: '2024-03-02', total: '99.90' },
        ],
      },
      dates,
      1,
    );
    expect(doc).toMatchObject({
      customer_id: '64a1f0c2e1',
      first_name: 'Ada King',
      last_name: 'Lovelace',
      email: 'ada@example.com',
      address_line: '12 St James’s Square',
      city: 'London',
      postal_code: 'SW1Y 4JH',
      country: 'GB',
      products: [
        { product_id: 'P1', name: 'Brass gear', price: '12.5' },
        { product_id: 'P2', name: undefined, price: undefined },
      ],
    });
    expect(doc.orders[0]).toMatchObject({
      order_id: 'O1',
      status: 'delivered',
      comments: 'Leave at the door\n\nRing twice',
      date: { iso: '2024-03-06 10:00:00.000 Z', precision: 'time' },
      items: [
        { product_id: 'P1', quantity: '2', unit_price: undefined },
        { product_id: 'P2', quantity: undefined, unit_price: undefined },
        { product_id: 'P3', quantity: undefined, unit_price: '1200.00' },
      ],
    });
    expect(doc.orders[1]).toMatchObject({
      order_id: '7',
      total: '99.90',
      date: { iso: '2024-03-02 00:00:00' },
    });
  });

  it('refuses what is no object', () => {
    expect(() => normalizeDocument([1], new DateColumn('d'), 1)).toThrow(
      'a document must be a JSON object, not an array',
    );
  });
});
