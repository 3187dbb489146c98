/**
 * `cartflow import payments FILE --source NAME …`: a file of payments (one row per payment or
 * refund) for the orders of a file source imported before, into its staged table `payments`, mapped
 * onto canonical payments from then on.
 *
 * Rules (docs/imports.md):
 * - A payment belongs to an order of the source (`--order`); one whose order the source does not
 *   have is quarantined by the daily run (`orphaned_payment`).
 * - `--customer` names who paid, when not the order's customer; without it, the order's customer.
 * - A refund is money back: a negative amount, or a row whose status maps to `refunded` (its amount
 *   is then made negative). Statuses: refunded/refund/chargeback → refunded, failed/declined/void/
 *   cancelled → failed, anything else captured; `--status-map` adds values.
 * - Without `--payment`, a row is keyed by its content and the how-manieth time it occurs in the file.
 * - Quarantined at import: `missing_value` (order, date or amount empty), `unparseable_number`,
 *   `unparseable_date`.
 */
import type pg from 'pg';
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
import {
  PAYMENTS_MAPPING,
  PAYMENTS_TABLE,
  registerFileSource,
  type FileSourceDefinition,
} from './file-source';
import { ImportRefused } from './input';
import { blank, literal, numericOrNull } from './sql';
import { PAYMENT_STATUS_MAP, PAYMENT_STATUSES, statusMap, statusSql } from './status-map';
import { normalizeIdentifier, normalizeNumber } from './values';

export interface PaymentsOptions extends CommonImportOptions, DelimitedOptions {
  /** Column names or 1-based numbers; order, date and amount are found by usual names when not given. */
  payment?: string;
  order?: string;
  date?: string;
  amount?: string;
  customer?: string;
  method?: string;
  status?: string;
  /** `value=status,…` entries on top of the default mapping of payment statuses. */
  statusMap?: string;
  dateFormat?: string;
  dayFirst?: boolean;
}

const ROLES: ColumnRole[] = [
  {
    role: 'payment',
    aliases: ['PaymentID', 'Payment_Id', 'TransactionID'],
    required: false,
    option: '--payment',
  },
  {
    role: 'order',
    aliases: ['Order', 'OrderID', 'Order_Id', 'InvoiceNo', 'Invoice'],
    required: true,
    option: '--order',
  },
  {
    role: 'date',
    aliases: ['Date', 'PaidAt', 'PaymentDate', 'Timestamp', 'Datetime'],
    required: true,
    option: '--date',
  },
  {
    role: 'amount',
    aliases: ['Amount', 'Paid', 'Total', 'Value', 'PaymentValue'],
    required: true,
    option: '--amount',
  },
  { role: 'customer', aliases: [], required: false, option: '--customer' },
  {
    role: 'method',
    aliases: ['Method', 'PaymentMethod', 'PaymentType'],
    required: false,
    option: '--method',
  },
  { role: 'status', aliases: [], required: false, option: '--status' },
];
const COLUMNS = ROLES.map((r) => r.role);
const ROW_COLUMNS = [...COLUMNS, '_date_iso', '_date_day_first', '_date_precision'];
const STAGED_COLUMNS = ['payment_id', 'order_id', 'customer_id', 'amount', 'paid_at', 'method', 'status'];

const createStagedTable = (table: string) => `
  create table if not exists ${table} (
    payment_id  text primary key,
    order_id    text not null,
    -- Who paid, when the file says; null: the order's customer.
    customer_id text,
    -- Negative for a refund.
    amount      numeric not null,
    paid_at     timestamptz not null,
    method      text,
    -- captured, refunded or failed.
    status      text not null
  )`;

/** The file source the payments belong to, as registered by its earlier import; refuses any other. */
async function fileSourceOf(client: pg.ClientBase, name: string): Promise<FileSourceDefinition> {
  const { rows } = await client.query<{ definition: FileSourceDefinition }>(
    `select definition from ops.sources where name = $1`,
    [name],
  );
  const definition = rows[0]?.definition;
  if (!definition)
    throw new ImportRefused(
      `There is no source ${name}: import its orders first (cartflow import transactions|online-retail|documents … --source ${name}).`,
    );
  if (definition.connection.kind !== 'files')
    throw new ImportRefused(
      `Source ${name} is a database source: map its payments in its definition's mapping.payments (docs/pipeline.md), not from a file.`,
    );
  return definition;
}

export async function importPayments(deps: ImportDeps, options: PaymentsOptions): Promise<ImportSummary> {
  if (options.source === undefined)
    throw new ImportRefused(
      'cartflow import payments needs --source NAME: the file source whose orders were paid (see cartflow source list).',
    );
  return runImport(deps, 'payments', { ...options, source: options.source }, async (context) => {
    const { client, input } = context;
    const source = await fileSourceOf(client, context.source);
    const reader = await readDelimited(input, options);
    const indices = resolveColumns(input.name, reader.columns, ROLES, {
      payment: options.payment,
      order: options.order,
      date: options.date,
      amount: options.amount,
      customer: options.customer,
      method: options.method,
      status: options.status,
    });
    refuseStatusMapWithoutColumn(options.statusMap, indices.status);
    const statuses = statusMap(PAYMENT_STATUS_MAP, PAYMENT_STATUSES, options.statusMap);
    const decimalComma = reader.delimiter === ';';
    const label = (index: number) => columnLabel(reader, index);
    const name = (role: string) => (indices[role] === undefined ? role : label(indices[role]!));
    const dates = new DateColumn(name('date'), options.dateFormat);
    const rowsRead = await stageDelimited(
      context,
      ROW_COLUMNS,
      reader,
      COLUMNS.map((c) => indices[c]),
      ([payment, order, date, amount, customer, method, status], line) => {
        const read = dates.read(date, line);
        return [
          normalizeIdentifier(payment),
          normalizeIdentifier(order),
          date?.trim(),
          normalizeNumber(amount, decimalComma),
          normalizeIdentifier(customer),
          method?.trim(),
          status?.trim(),
          ...stagedDateValues(read),
        ];
      },
    );
    const reading = dates.decide(options.dayFirst ?? false);
    const quote = (text: string) => literal(text);
    const mapped = indices.status === undefined ? `'captured'` : statusSql('r.status', statuses);
    await client.query(`
      create temp table import_parsed on commit drop as
      select r.line, nullif(r.payment, '') as payment_ref, nullif(r."order", '') as order_id,
             nullif(r.customer, '') as customer_id, nullif(r.method, '') as method, d.v as paid_at,
             case when s.v = 'refunded' then -abs(a.v) else a.v end as amount,
             case when s.v = 'failed' then 'failed' when s.v = 'refunded' or a.v < 0 then 'refunded' else 'captured' end as status,
             x.rule, x.detail
        from import_rows r
        cross join lateral (select ${numericOrNull('r.amount')} as v) a
        cross join lateral (select ${dateValueSql('r._date', reading.dayFirst)} as v) d
        cross join lateral (select ${mapped} as v) s
        cross join lateral (select
          case when r.rule is not null then r.rule
               when ${blank('r."order"')} or ${blank('r.date')} or ${blank('r.amount')} then 'missing_value'
               when a.v is null then 'unparseable_number'
               when d.v is null then 'unparseable_date' end as rule,
          case when r.rule is not null then r.detail
               when ${blank('r."order"')} then ${quote(name('order'))} || ' is empty'
               when ${blank('r.date')} then ${quote(name('date'))} || ' is empty'
               when ${blank('r.amount')} then ${quote(name('amount'))} || ' is empty'
               when a.v is null then ${quote(name('amount'))} || ' ' || quote_literal(r.amount) || ' is not a number'
               when d.v is null then ${quote(name('date'))} || ' ' || quote_literal(r.date) || ' is not a date'
          end as detail) x`);
    await markRefusedRows(client);
    // Natural keys: the file's payment id; without one, the row's content and its occurrence in the file.
    const key =
      indices.payment !== undefined
        ? 'p.payment_ref'
        : `'p' || left(h.content, 16) || '-' || row_number() over (partition by h.content order by p.line)`;
    await client.query(`
      create temp table import_keyed on commit drop as
      select ${key} as payment_id, p.*
        from import_parsed p
        cross join lateral (select md5(concat_ws('|', p.order_id, p.customer_id,
                                                  to_char(p.paid_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                                                  trim_scale(p.amount), p.method, p.status)) as content) h
       where p.rule is null`);
    const { rows: repeated } = await client.query<{ payment_id: string; n: number }>(
      `select payment_id, count(*)::int as n from import_keyed group by 1 having count(*) > 1 limit 1`,
    );
    if (repeated.length > 0)
      throw new ImportRefused(
        `${input.name}: payment ${repeated[0].payment_id} appears ${repeated[0].n} times in ${name('payment')}; payment ids must be unique (leave out --payment to key rows by their content).`,
      );

    const schema = stagingSchemaOf(context.source);
    const table = await createStagedTableOf(client, context.source, PAYMENTS_TABLE, createStagedTable);
    const merged = await mergeInto(
      client,
      table,
      STAGED_COLUMNS,
      ['payment_id'],
      `select payment_id, order_id, customer_id, amount, paid_at, method, status from import_keyed`,
    );
    const { rows } = await client.query<{ loaded: number } & Record<string, number>>(`
      select count(*)::int as loaded,
             count(distinct order_id)::int as orders,
             count(*) filter (where status = 'refunded')::int as refund_rows,
             count(*) filter (where status = 'failed')::int as failed_rows,
             coalesce(round(sum(amount) filter (where status = 'captured'), 2), 0)::float8 as paid_amount,
             coalesce(round(-sum(amount) filter (where status = 'refunded'), 2), 0)::float8 as refunded_amount
        from import_keyed`);
    const { loaded, ...facts } = rows[0];
    const notes = [`${name('date')} formats: ${reading.formats.join(', ') || 'none'}`, ...reading.notes];
    return {
      rowsRead,
      ...mergeCounts(loaded, merged),
      facts,
      ...(await dateRange(client, 'import_keyed', 'paid_at')),
      tables: [`${schema}.${PAYMENTS_TABLE}`],
      notes,
      afterRead: async () =>
        registerFileSource(client, {
          ...source,
          tables: [
            ...source.tables.filter((t) => t.name !== PAYMENTS_TABLE),
            { name: PAYMENTS_TABLE, primaryKey: ['payment_id'] },
          ],
          mapping: { ...source.mapping, payments: PAYMENTS_MAPPING },
        }),
    };
  });
}
