/**
 * `cartflow import documents FILE`: customer documents (JSON lines, or a JSON array), nested like the
 * Homestead customer records — a customer with its `address{}`, `products[]` and `orders[]` (each with
 * id, status, comments, date, and items or a total) — normalised into the file source's staged tables
 * `customers`, `products`, `customer_products`, `orders` (with the free-text `comments`, kept for
 * analysis) and `order_lines`, each order keeping its customer.
 *
 * Rules (docs/imports.md): an order's lines are its `items[]` (a product id, or an object with the
 * product, quantity — default 1 — and price — default the product's price in the customer's
 * `products[]`); an order without items but with a `total` is one line of the product
 * `(order total)`; an order with neither is staged without lines. Quarantined: a document that is no
 * JSON object (`malformed_document`), without a customer id (`missing_key`), or repeating an earlier
 * document's customer (`duplicate`); an order without id (`missing_key`), date (`missing_value`), with
 * a bad date (`unparseable_date`) or total (`unparseable_number`), or repeating an earlier order id
 * (`duplicate`); a line without product (`missing_key`) or price (`missing_value`), or with a bad
 * number; a product without id or with a bad price.
 */
import path from 'node:path';
import { DateColumn, dateFromTextSql } from './dates';
import { normalizeDocument } from './document-shape';
import {
  copyRecords,
  createRowsTable,
  dateRange,
  mergeInto,
  runImport,
  stagedTable,
  stagingSchemaOf,
  type CommonImportOptions,
  type ImportDeps,
  type ImportSummary,
  type StagedRecord,
} from './engine';
import { registerFileSource, sqlText, type FileSourceDefinition } from './file-source';
import { readJsonDocuments } from './json-documents';
import { ident, literal, numericOrNull } from './sql';
import { sourceNameFromFile } from './values';

export interface DocumentsOptions extends CommonImportOptions {
  dateFormat?: string;
  dayFirst?: boolean;
  currency?: string;
}

/** The product of the one line an order with only a total gets. */
export const ORDER_TOTAL_PRODUCT = '(order total)';

/** Order statuses as documents write them, onto cartflow's (placed, paid, shipped, cancelled, returned). */
export const STATUS_SQL = (column: string) => `
  case when ${column} in ('cancelled', 'canceled', 'void', 'voided', 'rejected') then 'cancelled'
       when ${column} in ('returned', 'refunded', 'return', 'refund') then 'returned'
       when ${column} in ('shipped', 'delivered', 'complete', 'completed', 'fulfilled', 'closed', 'done', 'sent') then 'shipped'
       when ${column} in ('paid', 'processing', 'invoiced', 'confirmed') then 'paid'
       else 'placed' end`;

const STAGED = {
  customers: {
    columns: [
      'customer_id',
      'first_name',
      'last_name',
      'company_name',
      'email',
      'phone',
      'address_line',
      'city',
      'state',
      'postal_code',
      'country',
      'signup_at',
    ],
    key: ['customer_id'],
    ddl: `customer_id text primary key, first_name text, last_name text, company_name text, email text, phone text,
          address_line text, city text, state text, postal_code text, country text, signup_at timestamptz`,
  },
  products: {
    columns: ['product_id', 'name', 'category', 'brand', 'price'],
    key: ['product_id'],
    ddl: `product_id text primary key, name text, category text, brand text, price numeric`,
  },
  customer_products: {
    columns: ['customer_id', 'product_id'],
    key: ['customer_id', 'product_id'],
    ddl: `customer_id text not null, product_id text not null, primary key (customer_id, product_id)`,
  },
  orders: {
    columns: ['order_id', 'customer_id', 'status', 'comments', 'placed_at', 'date_precision', 'total'],
    key: ['order_id'],
    ddl: `order_id text primary key, customer_id text not null, status text, comments text,
          placed_at timestamptz not null, date_precision text not null, total numeric`,
  },
  order_lines: {
    columns: ['order_id', 'line_no', 'product_id', 'quantity', 'unit_price'],
    key: ['order_id', 'line_no'],
    ddl: `order_id text not null, line_no integer not null, product_id text not null, quantity numeric not null,
          unit_price numeric not null, primary key (order_id, line_no)`,
  },
} as const;

export function documentsSource(name: string, currency: string | undefined): FileSourceDefinition {
  const currencySql = currency ? literal(currency) : 'null::text';
  return {
    name,
    description: 'Customer documents imported with "cartflow import documents"',
    connection: { kind: 'files', importer: 'documents' },
    tables: Object.entries(STAGED).map(([table, spec]) => ({ name: table, primaryKey: [...spec.key] })),
    mapping: {
      customers: sqlText(`
        select c.customer_id, c.email, c.first_name, c.last_name, c.company_name, c.address_line, c.city, c.state,
               c.postal_code, c.country, c.signup_at, least(c.signup_at, f.first_order) as changed_at
          from customers c
          left join (select customer_id, min(placed_at) as first_order from orders group by customer_id) f
         using (customer_id)`),
      products: sqlText(`
        select p.product_id, p.product_id as sku, p.name, p.category, p.brand, p.price, f.first_sold as changed_at
          from products p
          left join (select l.product_id, min(o.placed_at) as first_sold
                       from order_lines l join orders o using (order_id) group by l.product_id) f
         using (product_id)`),
      orders: sqlText(`
        select order_id, customer_id, ${STATUS_SQL('status')} as status, placed_at, ${currencySql} as currency
          from orders`),
      orderLines: sqlText(`
        select order_id || '-' || line_no as order_line_id, order_id, product_id, quantity, unit_price, 0 as discount
          from order_lines`),
    },
  };
}

export async function importDocuments(deps: ImportDeps, options: DocumentsOptions): Promise<ImportSummary> {
  const source = options.source ?? sourceNameFromFile(path.basename(options.file));
  return runImport(deps, 'documents', { ...options, source }, async (context) => {
    const { client, input } = context;
    const dates = new DateColumn('orders[].date', options.dateFormat);
    await createRowsTable(client, ['document', '_normalized']);
    async function* records(): AsyncGenerator<StagedRecord> {
      for await (const { line, text } of readJsonDocuments(input)) {
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (error) {
          yield {
            line,
            values: [text],
            rule: 'malformed_document',
            detail: `not JSON: ${(error as Error).message}`,
          };
          continue;
        }
        try {
          yield { line, values: [text, JSON.stringify(normalizeDocument(value, dates, line))] };
        } catch (error) {
          yield { line, values: [text], rule: 'malformed_document', detail: (error as Error).message };
        }
      }
    }
    const rowsRead = await copyRecords(context, ['document', '_normalized'], records());
    const reading = dates.decide(options.dayFirst ?? false);
    const date = (json: string) =>
      dateFromTextSql(`${json}->>'iso'`, `${json}->>'dayFirst'`, reading.dayFirst);

    await client.query(`create temp table import_quarantine (entity text, natural_key text, line bigint, rule text,
                          detail text, record jsonb) on commit drop`);

    // Customers: one per document; a document without id, or repeating an earlier one's, is quarantined whole.
    await client.query(`
      create temp table doc_customers on commit drop as
      select r.line, n, n->>'customer_id' as customer_id,
             row_number() over (partition by n->>'customer_id' order by r.line) as occurrence,
             first_value(r.line) over (partition by n->>'customer_id' order by r.line) as first_line
        from import_rows r cross join lateral (select r._normalized::jsonb as n) x
       where r.rule is null`);
    await client.query(`
      update import_rows r
         set rule = case when c.customer_id is null then 'missing_key' else 'duplicate' end,
             detail = case when c.customer_id is null then 'the document has no customer id (_id, id or customerId)'
                           else 'customer ' || quote_literal(c.customer_id) || ' has a document on line ' || c.first_line || ' already' end
        from doc_customers c where c.line = r.line and (c.customer_id is null or c.occurrence > 1)`);
    await client.query(`delete from doc_customers where customer_id is null or occurrence > 1`);

    // Products listed in the documents; the same product in several documents is one product (its first listing).
    await client.query(`
      create temp table doc_products on commit drop as
      select c.line, c.customer_id, p.ord::int as position, p.value->>'product_id' as product_id,
             p.value->>'name' as name, p.value->>'category' as category, p.value->>'brand' as brand,
             p.value->>'price' as price_text, ${numericOrNull(`p.value->>'price'`)} as price, p.value->'raw' as raw,
             case when p.value->>'product_id' is null then 'missing_key'
                  when p.value->>'price' is not null and ${numericOrNull(`p.value->>'price'`)} is null then 'unparseable_number' end as rule
        from doc_customers c cross join lateral jsonb_array_elements(c.n->'products') with ordinality p(value, ord)`);

    // Orders, each keeping its customer.
    const placedAt = date(`o.value->'date'`);
    await client.query(`
      create temp table doc_orders on commit drop as
      select c.line, c.customer_id, o.ord::int as position, o.value as o, o.value->>'order_id' as order_id,
             o.value->>'status' as status, o.value->>'comments' as comments, o.value->'date'->>'raw' as date_raw,
             ${placedAt} as placed_at, o.value->'date'->>'precision' as date_precision,
             ${numericOrNull(`o.value->>'total'`)} as total,
             row_number() over (partition by o.value->>'order_id' order by c.line, o.ord) as occurrence,
             case when o.value->>'order_id' is null then 'missing_key'
                  when o.value->'date'->>'raw' is null then 'missing_value'
                  when ${placedAt} is null then 'unparseable_date'
                  when o.value->>'total' is not null and ${numericOrNull(`o.value->>'total'`)} is null then 'unparseable_number'
             end as rule,
             case when o.value->>'order_id' is null then 'order ' || o.ord || ' of customer ' || quote_literal(c.customer_id) || ' has no id'
                  when o.value->'date'->>'raw' is null then 'order ' || quote_literal(o.value->>'order_id') || ' has no date'
                  when ${placedAt} is null then 'order ' || quote_literal(o.value->>'order_id') || ': date '
                       || quote_literal(o.value->'date'->>'raw') || ' is not a date'
                  when o.value->>'total' is not null and ${numericOrNull(`o.value->>'total'`)} is null
                    then 'order ' || quote_literal(o.value->>'order_id') || ': total ' || quote_literal(o.value->>'total') || ' is not a number'
             end as detail
        from doc_customers c cross join lateral jsonb_array_elements(c.n->'orders') with ordinality o(value, ord)`);
    await client.query(`
      update doc_orders set rule = 'duplicate',
             detail = 'order ' || quote_literal(order_id) || ' appears in an earlier document or earlier in this one'
       where rule is null and occurrence > 1`);

    // Lines: the order's items, or one line for its total.
    await client.query(`
      create temp table doc_lines on commit drop as
      with items as (
        select o.line, o.customer_id, o.order_id, i.ord::int as line_no, i.value->>'product_id' as product_id,
               i.value->>'name' as name, i.value->>'quantity' as quantity_text, i.value->>'unit_price' as price_text,
               i.value as raw
          from doc_orders o cross join lateral jsonb_array_elements(o.o->'items') with ordinality i(value, ord)
         where o.rule is null
        union all
        select o.line, o.customer_id, o.order_id, 1, ${literal(ORDER_TOTAL_PRODUCT)}, null, null, o.o->>'total',
               jsonb_build_object('total', o.o->>'total')
          from doc_orders o
         where o.rule is null and jsonb_array_length(o.o->'items') = 0 and o.total is not null
      )
      select i.*, ${numericOrNull('i.quantity_text')} as quantity_given,
             coalesce(${numericOrNull('i.price_text')},
                      (select p.price from doc_products p where p.customer_id = i.customer_id
                          and p.product_id = i.product_id and p.rule is null order by p.position limit 1),
                      (select p.price from doc_products p where p.product_id = i.product_id and p.rule is null
                          and p.price is not null order by p.line, p.position limit 1)) as unit_price,
             case when i.product_id is null then 'missing_key'
                  when (i.quantity_text is not null and ${numericOrNull('i.quantity_text')} is null)
                    or (i.price_text is not null and ${numericOrNull('i.price_text')} is null) then 'unparseable_number' end as rule
        from items i`);
    await client.query(`
      update doc_lines set rule = 'missing_value' where rule is null and unit_price is null`);
    await client.query(`
      insert into import_quarantine (entity, natural_key, line, rule, detail, record)
      select 'file:documents/products', coalesce(product_id, customer_id || '/products/' || position), line, rule,
             'product ' || position || ' of customer ' || quote_literal(customer_id) ||
               case rule when 'missing_key' then ' has no id' else ': price ' || quote_literal(price_text) || ' is not a number' end,
             jsonb_build_object('customer_id', customer_id, 'product', raw)
        from doc_products where rule is not null
      union all
      select 'file:documents/orders', coalesce(order_id, customer_id || '/orders/' || position), line, rule, detail,
             jsonb_build_object('customer_id', customer_id, 'order', o->'raw')
        from doc_orders where rule is not null
      union all
      select 'file:documents/order_lines', order_id || '-' || line_no, line, rule,
             'line ' || line_no || ' of order ' || quote_literal(order_id) ||
               case rule when 'missing_key' then ' names no product'
                         when 'missing_value' then ': no price, and product ' || quote_literal(product_id) || ' has none'
                         else ': quantity or price is not a number' end,
             jsonb_build_object('customer_id', customer_id, 'order_id', order_id, 'item', raw)
        from doc_lines where rule is not null`);

    const schema = stagingSchemaOf(context.source);
    await client.query(`create schema if not exists ${ident(schema)}`);
    for (const [table, spec] of Object.entries(STAGED))
      await client.query(`create table if not exists ${stagedTable(context.source, table)} (${spec.ddl})`);
    const selects: Record<keyof typeof STAGED, string> = {
      customers: `
        select customer_id, n->>'first_name', n->>'last_name', n->>'company_name', n->>'email', n->>'phone',
               n->>'address_line', n->>'city', n->>'state', n->>'postal_code', n->>'country', ${date(`n->'signup'`)}
          from doc_customers`,
      // Listed products first, then products that only orders name (with the name an item gave, if any).
      products: `
        select distinct on (product_id) product_id, name, category, brand, price
          from (select product_id, name, category, brand, price, 0 as pass, line, position
                  from doc_products where rule is null
                union all
                select product_id, name, null, null, null, 1, line, line_no
                  from doc_lines where rule is null) p
         order by product_id, pass, line, position`,
      customer_products: `
        select distinct customer_id, product_id from doc_products where rule is null`,
      orders: `
        select order_id, customer_id, status, comments, placed_at, date_precision, total from doc_orders where rule is null`,
      order_lines: `
        select order_id, line_no, product_id, coalesce(quantity_given, 1), unit_price from doc_lines where rule is null`,
    };
    let inserted = 0;
    let updated = 0;
    let staged = 0;
    for (const [table, spec] of Object.entries(STAGED) as [
      keyof typeof STAGED,
      (typeof STAGED)[keyof typeof STAGED],
    ][]) {
      const merged = await mergeInto(
        client,
        stagedTable(context.source, table),
        spec.columns,
        spec.key,
        selects[table],
      );
      inserted += merged.inserted;
      updated += merged.updated;
      const { rows } = await client.query<{ n: number }>(
        `select count(*)::int as n from (${selects[table]}) s`,
      );
      staged += rows[0].n;
    }

    const { rows } = await client.query<{ loaded: number } & Record<string, number>>(`
      select (select count(*) from doc_customers)::int as loaded,
             (select count(*) from doc_customers)::int as customers,
             (select count(*) from doc_orders where rule is null)::int as orders,
             (select count(*) from doc_orders o where rule is null
                 and not exists (select 1 from doc_lines l where l.order_id = o.order_id and l.rule is null))::int as orders_without_lines,
             (select count(*) from doc_orders where rule is null and comments is not null)::int as orders_with_comments,
             (select count(*) from doc_orders where rule is null and ${STATUS_SQL('status')} = 'cancelled')::int as cancelled_orders,
             (select count(*) from doc_lines where rule is null)::int as order_lines,
             (select count(distinct product_id) from (select product_id from doc_products where rule is null
                                                     union all select product_id from doc_lines where rule is null) p)::int as products,
             (select coalesce(round(sum(coalesce(l.quantity_given, 1) * l.unit_price), 2), 0)::float8
                from doc_lines l join doc_orders o using (order_id)
               where l.rule is null and o.rule is null and ${STATUS_SQL('o.status')} not in ('cancelled', 'returned')) as revenue,
             (select coalesce(round(sum(coalesce(l.quantity_given, 1) * l.unit_price), 2), 0)::float8
                from doc_lines l join doc_orders o using (order_id)
               where l.rule is null and o.rule is null and ${STATUS_SQL('o.status')} in ('cancelled', 'returned')) as cancelled_or_returned_value`);
    const { loaded, ...facts } = rows[0];
    const notes = [`order dates: ${reading.formats.join(', ') || 'none'}`, ...reading.notes];
    if (facts.orders_without_lines > 0)
      notes.push(
        `${facts.orders_without_lines} order(s) have neither items nor a total: staged without lines (no revenue).`,
      );
    return {
      rowsRead,
      loaded,
      inserted,
      updated,
      unchanged: staged - inserted - updated,
      facts,
      ...(await dateRange(client, 'doc_orders', 'placed_at', 'rule is null')),
      tables: Object.keys(STAGED).map((t) => `${schema}.${t}`),
      notes,
      afterRead: async () =>
        registerFileSource(client, {
          ...documentsSource(context.source, options.currency),
          duplicates: options.duplicates,
        }),
    };
  });
}
