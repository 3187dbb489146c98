/**
 * `cartflow import transactions FILE --customer COL --date COL --amount COL …`: any sales log, one
 * row per sale (or per line of an order, with `--order`), into the file source's staged table
 * `transactions`.
 *
 * Rules (docs/imports.md has them with the rates measured on the real files):
 * - `--amount` is the row's total; with `--quantity` the unit price is amount ÷ quantity, without it
 *   the row is one unit (−1 for a negative amount).
 * - A month-only date (`2020-01`) is the 1st of that month at 00:00, and its row is flagged with
 *   `date_precision = 'month'`; a date without a time is 00:00 (`day`). Dates are the shop's time.
 * - A zero amount is kept: a visit that paid nothing (a voucher, a free service) is still a visit. A
 *   missing amount is quarantined (`missing_value`), as are a missing customer or date.
 * - A negative amount is a refund: an order whose rows are all negative has status `returned`.
 * - A quantity of zero, or of the opposite sign to its amount, is `invalid_quantity`.
 * - Without `--order` every row is its own order, keyed by its content and its occurrence in the
 *   file, so the same file (or an export that repeats earlier rows) imported again adds nothing,
 *   while two identical sales in one file stay two sales.
 * - With `--status`, each row's status is mapped (status-map.ts: cancelled/canceled/void →
 *   cancelled, refunded/returned → returned, anything else paid; `--status-map` adds values), and an
 *   order takes the first of cancelled, returned, shipped, placed, paid that one of its rows has.
 */
import path from 'node:path';
import {
  columnLabel,
  refuseStatusMapWithoutColumn,
  resolveColumns,
  stageDelimited,
  type ColumnRole,
} from './columns';
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
import { blank, literal, numericOrNull } from './sql';
import { ORDER_STATUS_MAP, ORDER_STATUSES, statusMap, statusSql } from './status-map';
import { normalizeIdentifier, normalizeNumber, sourceNameFromFile } from './values';

export interface TransactionsOptions extends CommonImportOptions, DelimitedOptions {
  /** Column names or 1-based numbers; customer, date and amount are found by usual names when not given. */
  customer?: string;
  date?: string;
  amount?: string;
  order?: string;
  product?: string;
  quantity?: string;
  /** The order's status column; its values are mapped by `statusMap` (docs/imports.md). */
  status?: string;
  /** `value=status,…` entries on top of the default mapping of status values; `*=status` for the rest. */
  statusMap?: string;
  dateFormat?: string;
  /** Read `1/2/2020` as day first when no value shows which (default: month first). */
  dayFirst?: boolean;
  currency?: string;
}

/** The product of a line when the log names none. */
export const UNSPECIFIED_PRODUCT = '(unspecified)';

const ROLES: ColumnRole[] = [
  {
    role: 'customer',
    aliases: ['Customer', 'CustomerID', 'Customer_Id', 'Client', 'User', 'UserID'],
    required: true,
    option: '--customer',
  },
  {
    role: 'date',
    aliases: ['Date', 'Datetime', 'Timestamp', 'OrderDate', 'InvoiceDate', 'TransactionDate'],
    required: true,
    option: '--date',
  },
  {
    role: 'amount',
    aliases: ['Total', 'Amount', 'Sales', 'Revenue', 'Value'],
    required: true,
    option: '--amount',
  },
  { role: 'order', aliases: [], required: false, option: '--order' },
  { role: 'product', aliases: [], required: false, option: '--product' },
  { role: 'quantity', aliases: [], required: false, option: '--quantity' },
  { role: 'status', aliases: [], required: false, option: '--status' },
];
const COLUMNS = ROLES.map((r) => r.role);
const ROW_COLUMNS = [...COLUMNS, '_date_iso', '_date_day_first', '_date_precision'];

const STAGED_COLUMNS = [
  'line_id',
  'order_id',
  'customer_id',
  'placed_at',
  'date_precision',
  'product_id',
  'quantity',
  'amount',
  'status',
];

const createStagedTable = (table: string) => `
  create table if not exists ${table} (
    line_id        text primary key,
    order_id       text not null,
    customer_id    text not null,
    placed_at      timestamptz not null,
    -- 'month' (a month-only date, read as the 1st), 'day' (no time), 'time'.
    date_precision text not null,
    product_id     text,
    quantity       numeric not null,
    amount         numeric not null,
    -- cartflow's status of the row (--status, mapped); null without one.
    status         text
  )`;

export function transactionsSource(name: string, currency: string | undefined): FileSourceDefinition {
  const currencySql = currency ? literal(currency) : 'null::text';
  const product = (column: string) => `coalesce(${column}, ${literal(UNSPECIFIED_PRODUCT)})`;
  return {
    name,
    description: 'A sales log imported with "cartflow import transactions"',
    connection: { kind: 'files', importer: 'transactions' },
    tables: [{ name: 'transactions', primaryKey: ['line_id'] }],
    mapping: {
      customers: sqlText(`
        select customer_id, min(placed_at) as signup_at, min(placed_at) as changed_at
          from transactions group by customer_id`),
      products: sqlText(`
        select ${product('product_id')} as product_id, ${product('product_id')} as name, min(placed_at) as changed_at
          from transactions group by 1`),
      orders: sqlText(`
        select order_id, min(customer_id) as customer_id,
               case when bool_or(status = 'cancelled') then 'cancelled'
                    when bool_or(status = 'returned') or bool_and(amount < 0) then 'returned'
                    else coalesce(max(status), 'paid') end as status,
               min(placed_at) as placed_at, ${currencySql} as currency
          from transactions group by order_id`),
      orderLines: sqlText(`
        select t.line_id as order_line_id, t.order_id, ${product('t.product_id')} as product_id,
               case when o.returned then -t.quantity else t.quantity end as quantity,
               t.amount / t.quantity as unit_price, 0 as discount
          from transactions t
          join (select order_id, bool_and(amount < 0) as returned from transactions group by order_id) o
         using (order_id)`),
    },
  };
}

export async function importTransactions(
  deps: ImportDeps,
  options: TransactionsOptions,
): Promise<ImportSummary> {
  const source = options.source ?? sourceNameFromFile(path.basename(options.file));
  return runImport(deps, 'transactions', { ...options, source }, async (context) => {
    const { client, input } = context;
    const reader = await readDelimited(input, options);
    const indices = resolveColumns(input.name, reader.columns, ROLES, {
      customer: options.customer,
      date: options.date,
      amount: options.amount,
      order: options.order,
      product: options.product,
      quantity: options.quantity,
      status: options.status,
    });
    refuseStatusMapWithoutColumn(options.statusMap, indices.status);
    const statuses = statusMap(ORDER_STATUS_MAP, ORDER_STATUSES, options.statusMap);
    const decimalComma = reader.delimiter === ';';
    const label = (index: number) => columnLabel(reader, index);
    const dateLabel = label(indices.date!);
    const dates = new DateColumn(dateLabel, options.dateFormat);
    const rowsRead = await stageDelimited(
      context,
      ROW_COLUMNS,
      reader,
      COLUMNS.map((c) => indices[c]),
      ([customer, date, amount, order, product, quantity, status], line) => {
        const read = dates.read(date, line);
        return [
          normalizeIdentifier(customer),
          date?.trim(),
          normalizeNumber(amount, decimalComma),
          normalizeIdentifier(order),
          normalizeIdentifier(product),
          normalizeNumber(quantity, decimalComma),
          status?.trim(),
          ...stagedDateValues(read),
        ];
      },
    );
    const reading = dates.decide(options.dayFirst ?? false);
    const name = (role: string) => (indices[role] === undefined ? role : label(indices[role]!));
    const quote = (text: string) => literal(text);
    await client.query(`
      create temp table import_parsed on commit drop as
      select r.line, nullif(r.customer, '') as customer_id, d.v as placed_at, r._date_precision as date_precision,
             a.v as amount, coalesce(q.v, case when a.v < 0 then -1 else 1 end) as quantity,
             nullif(r."order", '') as order_ref, nullif(r.product, '') as product_id,
             ${indices.status === undefined ? 'null::text' : statusSql('r.status', statuses)} as status,
             coalesce(r.rule, x.rule) as rule, coalesce(r.detail, x.detail) as detail
        from import_rows r
        cross join lateral (select ${numericOrNull('r.amount')} as v) a
        cross join lateral (select ${numericOrNull('r.quantity')} as v) q
        cross join lateral (select ${dateValueSql('r._date', reading.dayFirst)} as v) d
        cross join lateral (select
          case when ${blank('r.customer')} or ${blank('r.date')} or ${blank('r.amount')} then 'missing_value'
               when a.v is null or (r.quantity is not null and q.v is null) then 'unparseable_number'
               when d.v is null then 'unparseable_date'
               when q.v = 0 or (a.v <> 0 and sign(q.v) <> sign(a.v)) then 'invalid_quantity' end as rule,
          case when ${blank('r.customer')} then ${quote(name('customer'))} || ' is empty'
               when ${blank('r.date')} then ${quote(name('date'))} || ' is empty'
               when ${blank('r.amount')} then ${quote(name('amount'))} || ' is empty'
               when a.v is null then ${quote(name('amount'))} || ' ' || quote_literal(r.amount) || ' is not a number'
               when r.quantity is not null and q.v is null
                 then ${quote(name('quantity'))} || ' ' || quote_literal(r.quantity) || ' is not a number'
               when d.v is null then ${quote(name('date'))} || ' ' || quote_literal(r.date) || ' is not a date'
               when q.v = 0 then ${quote(name('quantity'))} || ' is 0'
               when a.v <> 0 and sign(q.v) <> sign(a.v)
                 then ${quote(name('quantity'))} || ' ' || q.v || ' and ' || ${quote(name('amount'))} || ' ' || a.v || ' differ in sign'
          end as detail) x`);
    await markRefusedRows(client);
    // Natural keys: an order's lines by their position in it; without orders, each row by its content
    // and the how-manieth time that content occurs in the file.
    const key =
      indices.order !== undefined
        ? `p.order_ref || '#' || row_number() over (partition by p.order_ref order by p.line)`
        : `'t' || left(h.content, 16) || '-' || row_number() over (partition by h.content order by p.line)`;
    await client.query(`
      create temp table import_keyed on commit drop as
      select ${key} as line_id, p.*
        from import_parsed p
        cross join lateral (select md5(concat_ws('|', p.customer_id, to_char(p.placed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                                                  trim_scale(p.amount), p.product_id, trim_scale(p.quantity))) as content) h
       where p.rule is null`);

    const schema = stagingSchemaOf(context.source);
    const table = await createStagedTableOf(client, context.source, 'transactions', createStagedTable);
    // Tables staged before imports carried a status.
    await client.query(`alter table ${table} add column if not exists status text`);
    const merged = await mergeInto(
      client,
      table,
      STAGED_COLUMNS,
      ['line_id'],
      `select line_id, ${indices.order !== undefined ? 'order_ref' : 'line_id'}, customer_id, placed_at, date_precision,
              product_id, quantity, amount, status from import_keyed`,
    );

    const { rows } = await client.query<{ loaded: number } & Record<string, number>>(`
      select count(*)::int as loaded,
             count(distinct ${indices.order !== undefined ? 'order_ref' : 'line_id'})::int as orders,
             count(distinct customer_id)::int as customers,
             count(distinct coalesce(product_id, ''))::int as products,
             count(*) filter (where amount = 0)::int as zero_amount_rows,
             count(*) filter (where amount < 0)::int as refund_rows,
             count(*) filter (where date_precision = 'month')::int as month_only_dates,
             ${indices.status === undefined ? '' : `count(*) filter (where status = 'cancelled')::int as cancelled_rows, count(*) filter (where status = 'returned')::int as returned_rows,`}
             coalesce(round(sum(amount) filter (where amount > 0), 2), 0)::float8 as sales,
             coalesce(round(-sum(amount) filter (where amount < 0), 2), 0)::float8 as refunds,
             coalesce(round(sum(amount), 2), 0)::float8 as net_revenue
        from import_keyed`);
    const { loaded, ...facts } = rows[0];
    const notes = [`${dateLabel} formats: ${reading.formats.join(', ') || 'none'}`, ...reading.notes];
    if (facts.month_only_dates > 0)
      notes.push(
        `${facts.month_only_dates} row(s) have a month-only date: read as the 1st of the month, date_precision = 'month'.`,
      );
    if (facts.zero_amount_rows > 0)
      notes.push(`${facts.zero_amount_rows} row(s) have a zero amount: kept, as sales worth 0.`);
    return {
      rowsRead,
      ...mergeCounts(loaded, merged),
      facts,
      ...(await dateRange(client, 'import_keyed', 'placed_at')),
      tables: [`${schema}.transactions`],
      notes,
      afterRead: async () =>
        registerFileSource(client, {
          ...transactionsSource(context.source, options.currency),
          duplicates: options.duplicates,
        }),
    };
  });
}
