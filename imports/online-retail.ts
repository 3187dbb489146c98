/**
 * `cartflow import online-retail FILE`: the UCI Online Retail export (and Online Retail II, whose
 * columns are named slightly differently) into the file source's staged table `invoice_lines`.
 *
 * Rules: an invoice starting with `C` is a cancellation; an invoice whose lines all have negative
 * quantities is a return; both are kept, with their status, and their quantities turned positive in
 * the canonical order lines (the status says which way the goods went). A line without a CustomerID
 * is kept for revenue and belongs to the unknown customer. Records that cannot be read are
 * quarantined: `malformed_row`, `missing_value`, `unparseable_number`, `unparseable_date`.
 */
import { resolveColumns, stageDelimited, type ColumnRole } from './columns';
import { DateColumn, stagedDateValues, dateValueSql } from './dates';
import { readDelimited, type DelimitedOptions } from './delimited';
import {
  dateRange,
  createStagedTableOf,
  mergeCounts,
  mergeInto,
  markRefusedRows,
  runImport,
  stagingSchemaOf,
  type CommonImportOptions,
  type ImportDeps,
  type ImportSummary,
} from './engine';
import { registerFileSource, sqlText, type FileSourceDefinition } from './file-source';
import { blank, numericOrNull } from './sql';
import { normalizeIdentifier, normalizeNumber } from './values';

export interface OnlineRetailOptions extends CommonImportOptions, DelimitedOptions {
  /** The format of InvoiceDate; told from the data when absent (M/D/YY H:MM for the UCI file). */
  dateFormat?: string;
  /** ISO 4217 code of the prices, recorded on every order (the UCI data is in GBP). */
  currency?: string;
}

export const ONLINE_RETAIL_DEFAULT_SOURCE = 'online_retail';

const ROLES: ColumnRole[] = [
  { role: 'invoice', aliases: ['InvoiceNo', 'Invoice', 'InvoiceNumber'], required: true },
  { role: 'stock_code', aliases: ['StockCode', 'ProductCode', 'SKU'], required: true },
  { role: 'description', aliases: ['Description'], required: false },
  { role: 'quantity', aliases: ['Quantity', 'Qty'], required: true },
  { role: 'invoice_date', aliases: ['InvoiceDate', 'Date'], required: true },
  { role: 'unit_price', aliases: ['UnitPrice', 'Price'], required: true },
  { role: 'customer_id', aliases: ['CustomerID', 'Customer'], required: false },
  { role: 'country', aliases: ['Country'], required: false },
];
const COLUMNS = ROLES.map((r) => r.role);
/** What import_rows holds: the columns as read, and InvoiceDate as recognised (see dates.ts). */
const ROW_COLUMNS = [...COLUMNS, '_invoice_date_iso', '_invoice_date_day_first', '_invoice_date_precision'];

const STAGED_COLUMNS = [
  'invoice_no',
  'line_no',
  'stock_code',
  'description',
  'quantity',
  'invoice_date',
  'unit_price',
  'customer_id',
  'country',
];

/** The staged table: one row per invoice line, keyed by invoice and the line's position in it. */
const createStagedTable = (table: string) => `
  create table if not exists ${table} (
    invoice_no   text not null,
    line_no      integer not null,
    stock_code   text not null,
    description  text,
    quantity     numeric not null,
    invoice_date timestamptz not null,
    unit_price   numeric not null,
    customer_id  text,
    country      text,
    primary key (invoice_no, line_no)
  )`;

/**
 * The mapping into cartflow's canonical entities, run by the daily pipeline over the staged table.
 * Customers and products start (changed_at) at their first invoice, so every fact finds its version.
 */
export function onlineRetailSource(name: string, currency: string | undefined): FileSourceDefinition {
  const currencySql = currency ? `'${currency.replace(/'/g, "''")}'` : 'null::text';
  return {
    name,
    description: 'UCI Online Retail export, imported with "cartflow import online-retail"',
    connection: { kind: 'files', importer: 'online-retail' },
    tables: [{ name: 'invoice_lines', primaryKey: ['invoice_no', 'line_no'] }],
    mapping: {
      customers: sqlText(`
        select c.customer_id, c.country, f.first_at as signup_at, f.first_at as changed_at
          from (select distinct on (customer_id) customer_id, country from invoice_lines
                 where customer_id is not null
                 order by customer_id, invoice_date desc, invoice_no desc, line_no desc) c
          join (select customer_id, min(invoice_date) as first_at from invoice_lines
                 where customer_id is not null group by customer_id) f using (customer_id)`),
      products: sqlText(`
        select p.stock_code as product_id, p.stock_code as sku, p.description as name, f.first_at as changed_at
          from (select distinct on (stock_code) stock_code, description from invoice_lines
                 order by stock_code, description is null, invoice_date desc, invoice_no desc, line_no desc) p
          join (select stock_code, min(invoice_date) as first_at from invoice_lines group by stock_code) f
         using (stock_code)`),
      orders: sqlText(`
        select invoice_no as order_id, min(customer_id) as customer_id,
               case when invoice_no like 'C%' then 'cancelled'
                    when bool_and(quantity < 0) then 'returned' else 'paid' end as status,
               min(invoice_date) as placed_at, ${currencySql} as currency
          from invoice_lines group by invoice_no`),
      orderLines: sqlText(`
        select l.invoice_no || '-' || l.line_no as order_line_id, l.invoice_no as order_id,
               l.stock_code as product_id,
               case when o.reversed then -l.quantity else l.quantity end as quantity,
               l.unit_price, 0 as discount
          from invoice_lines l
          join (select invoice_no, invoice_no like 'C%' or bool_and(quantity < 0) as reversed
                  from invoice_lines group by invoice_no) o using (invoice_no)`),
    },
  };
}

export async function importOnlineRetail(
  deps: ImportDeps,
  options: OnlineRetailOptions,
): Promise<ImportSummary> {
  const source = options.source ?? ONLINE_RETAIL_DEFAULT_SOURCE;
  return runImport(deps, 'online-retail', { ...options, source }, async (context) => {
    const { client, input } = context;
    const reader = await readDelimited(input, options);
    const indices = resolveColumns(input.name, reader.columns, ROLES);
    const decimalComma = reader.delimiter === ';';
    const dates = new DateColumn('InvoiceDate', options.dateFormat);
    const rowsRead = await stageDelimited(
      context,
      ROW_COLUMNS,
      reader,
      COLUMNS.map((c) => indices[c]),
      ([invoice, stock, description, quantity, date, price, customer, country], line) => {
        const read = dates.read(date, line);
        return [
          invoice?.trim(),
          stock?.trim(),
          description?.trim(),
          normalizeNumber(quantity, decimalComma),
          date?.trim(),
          normalizeNumber(price, decimalComma),
          normalizeIdentifier(customer),
          country?.trim(),
          ...stagedDateValues(read),
        ];
      },
    );
    // The UCI file writes dates month first (12/1/10); the values decide unless none shows which.
    const reading = dates.decide(false);
    const invoiceDate = dateValueSql('r._invoice_date', reading.dayFirst);
    await client.query(`
      create temp table import_parsed on commit drop as
      select r.line, r.invoice as invoice_no,
             (row_number() over (partition by r.invoice order by r.line))::int as line_no,
             r.stock_code, nullif(r.description, '') as description, q.v as quantity, d.v as invoice_date,
             p.v as unit_price, nullif(r.customer_id, '') as customer_id, nullif(r.country, '') as country,
             coalesce(r.rule, x.rule) as rule, coalesce(r.detail, x.detail) as detail
        from import_rows r
        cross join lateral (select ${numericOrNull('r.quantity')} as v) q
        cross join lateral (select ${numericOrNull('r.unit_price')} as v) p
        cross join lateral (select ${invoiceDate} as v) d
        cross join lateral (select
          case when ${blank('r.invoice')} or ${blank('r.stock_code')} or ${blank('r.quantity')}
                    or ${blank('r.invoice_date')} or ${blank('r.unit_price')} then 'missing_value'
               when q.v is null or p.v is null then 'unparseable_number'
               when d.v is null then 'unparseable_date' end as rule,
          case when ${blank('r.invoice')} then 'InvoiceNo is empty'
               when ${blank('r.stock_code')} then 'StockCode is empty'
               when ${blank('r.quantity')} then 'Quantity is empty'
               when ${blank('r.invoice_date')} then 'InvoiceDate is empty'
               when ${blank('r.unit_price')} then 'UnitPrice is empty'
               when q.v is null then 'Quantity ' || quote_literal(r.quantity) || ' is not a number'
               when p.v is null then 'UnitPrice ' || quote_literal(r.unit_price) || ' is not a number'
               when d.v is null then 'InvoiceDate ' || quote_literal(r.invoice_date) || ' is not a date'
          end as detail) x`);
    await markRefusedRows(client);

    const schema = stagingSchemaOf(context.source);
    const table = await createStagedTableOf(client, context.source, 'invoice_lines', createStagedTable);
    const merged = await mergeInto(
      client,
      table,
      STAGED_COLUMNS,
      ['invoice_no', 'line_no'],
      `select ${STAGED_COLUMNS.join(', ')} from import_parsed where rule is null`,
    );

    const { rows } = await client.query<{ loaded: number; repeated_lines: number } & Record<string, number>>(`
      select count(*)::int as loaded,
             count(distinct invoice_no)::int as invoices,
             count(distinct invoice_no) filter (where invoice_no like 'C%')::int as cancelled_invoices,
             count(*) filter (where invoice_no like 'C%')::int as cancelled_lines,
             count(*) filter (where invoice_no not like 'C%' and quantity < 0)::int as returned_lines,
             count(distinct customer_id)::int as customers,
             count(*) filter (where customer_id is null)::int as lines_without_customer,
             count(distinct stock_code)::int as products,
             coalesce(round(sum(quantity * unit_price) filter (where invoice_no not like 'C%' and quantity > 0), 2), 0)::float8 as sales,
             coalesce(round(-sum(quantity * unit_price) filter (where invoice_no like 'C%'), 2), 0)::float8 as cancelled_value,
             coalesce(round(sum(quantity * unit_price), 2), 0)::float8 as net_revenue,
             coalesce(round(sum(quantity * unit_price) filter (where customer_id is null and invoice_no not like 'C%' and quantity > 0), 2), 0)::float8
               as sales_without_customer,
             (select coalesce(sum(n - 1), 0)::int from (
                select count(*) as n from import_parsed where rule is null
                 group by invoice_no, stock_code, quantity, unit_price) g) as repeated_lines
        from import_parsed where rule is null`);
    const { rows: returned } = await client.query<{ n: number }>(`
      select count(*)::int as n from (select invoice_no from import_parsed where rule is null and invoice_no not like 'C%'
                                        group by invoice_no having bool_and(quantity < 0)) r`);
    const facts = { ...rows[0], returned_invoices: returned[0].n };
    const { loaded, ...shown } = facts;
    const notes = [`InvoiceDate formats: ${reading.formats.join(', ')}`, ...reading.notes];
    if (facts.repeated_lines > 0)
      notes.push(
        `${facts.repeated_lines} line(s) repeat an earlier line of their invoice exactly (same StockCode, Quantity and UnitPrice); ` +
          'they are staged as they are, and the daily pipeline quarantines them under "duplicate".',
      );
    return {
      rowsRead,
      ...mergeCounts(loaded, merged),
      facts: shown,
      ...(await dateRange(client, 'import_parsed', 'invoice_date', 'rule is null')),
      tables: [`${schema}.invoice_lines`],
      notes,
      afterRead: async () =>
        registerFileSource(client, {
          ...onlineRetailSource(context.source, options.currency),
          duplicates: options.duplicates,
        }),
    };
  });
}
