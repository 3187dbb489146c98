/**
 * `cartflow import rees46 FILE`: a REES46 event export (the fields of the events contract,
 * `POST /v1/events`) into the table the events API writes, `staging.raw_events`, through its
 * idempotency ledger `staging.raw_event_ids` — so funnels, sessions and abandoned carts can be
 * studied on history exactly as on live events.
 *
 * - An export has no event ids; each event gets a UUID derived from its content and the how-manieth
 *   time that content occurs in the file, so importing the file again finds every id in the ledger and
 *   stores nothing (an `event_id` column, when present, is used as it is).
 * - Imported events are history: they are entered in the ledger as already forwarded, so the cart
 *   relay never signals a 2019 cart and no shopper gets an e-mail about it.
 * - `category_id` is not part of the contract and is not stored; `quantity` defaults to 1.
 * - Records that break the contract are quarantined (`missing_value`, `invalid_event_type`,
 *   `unparseable_number`, `negative_price`, `invalid_quantity`, `unparseable_date`, `invalid_event_id`).
 */
import { resolveColumns, stageDelimited, type ColumnRole } from './columns';
import { DateColumn, stagedDateValues, dateValueSql } from './dates';
import { readDelimited, type DelimitedOptions } from './delimited';
import {
  markRefusedRows,
  runImport,
  type CommonImportOptions,
  type ImportDeps,
  type ImportSummary,
} from './engine';
import { blank, numericOrNull } from './sql';
import { normalizeNumber } from './values';

export interface Rees46Options extends CommonImportOptions, DelimitedOptions {
  dateFormat?: string;
}

/** The name imports of event files are recorded under in ops.imports and ops.quarantine. */
export const REES46_DEFAULT_SOURCE = 'rees46';

const EVENT_TYPES = ['view', 'cart', 'remove_from_cart', 'purchase'];

const ROLES: ColumnRole[] = [
  { role: 'event_time', aliases: ['event_time'], required: true },
  { role: 'event_type', aliases: ['event_type'], required: true },
  { role: 'product_id', aliases: ['product_id'], required: true },
  { role: 'category_code', aliases: ['category_code'], required: false },
  { role: 'brand', aliases: ['brand'], required: false },
  { role: 'price', aliases: ['price'], required: true },
  { role: 'user_id', aliases: ['user_id'], required: true },
  { role: 'user_session', aliases: ['user_session'], required: true },
  { role: 'quantity', aliases: ['quantity'], required: false },
  { role: 'email', aliases: ['email'], required: false },
  { role: 'event_id', aliases: ['event_id'], required: false },
];
const COLUMNS = ROLES.map((r) => r.role);
const ROW_COLUMNS = [...COLUMNS, '_event_time_iso', '_event_time_day_first', '_event_time_precision'];

const UUID = '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$';

export async function importRees46(deps: ImportDeps, options: Rees46Options): Promise<ImportSummary> {
  const source = options.source ?? REES46_DEFAULT_SOURCE;
  return runImport(deps, 'rees46', { ...options, source }, async (context) => {
    const { client, input } = context;
    const reader = await readDelimited(input, options);
    const indices = resolveColumns(input.name, reader.columns, ROLES);
    const dates = new DateColumn('event_time', options.dateFormat);
    const rowsRead = await stageDelimited(
      context,
      ROW_COLUMNS,
      reader,
      COLUMNS.map((c) => indices[c]),
      (values, line) => {
        const [time, type, product, category, brand, price, user, session, quantity, email, id] = values.map(
          (v) => v?.trim(),
        );
        const read = dates.read(time, line);
        return [
          time,
          type?.toLowerCase(),
          product,
          category,
          brand,
          normalizeNumber(price),
          user,
          session,
          normalizeNumber(quantity),
          email,
          id,
          ...stagedDateValues(read),
        ];
      },
    );
    const reading = dates.decide(false);
    const types = EVENT_TYPES.map((t) => `'${t}'`).join(', ');
    await client.query(`
      create temp table import_parsed on commit drop as
      select r.line, t.v as event_time, r.event_type, r.product_id, nullif(r.category_code, '') as category_code,
             nullif(r.brand, '') as brand, p.v as price, coalesce(q.v, 1) as quantity, r.user_id, r.user_session,
             nullif(r.email, '') as email, nullif(r.event_id, '') as given_id,
             coalesce(r.rule, x.rule) as rule, coalesce(r.detail, x.detail) as detail
        from import_rows r
        cross join lateral (select ${numericOrNull('r.price')} as v) p
        cross join lateral (select ${numericOrNull('r.quantity')} as v) q
        cross join lateral (select ${dateValueSql('r._event_time', reading.dayFirst)} as v) t
        cross join lateral (select
          case when ${blank('r.event_time')} or ${blank('r.event_type')} or ${blank('r.product_id')}
                    or ${blank('r.price')} or ${blank('r.user_id')} or ${blank('r.user_session')} then 'missing_value'
               when r.event_type not in (${types}) then 'invalid_event_type'
               when p.v is null or (r.quantity is not null and q.v is null) then 'unparseable_number'
               when p.v < 0 then 'negative_price'
               when q.v is not null and (q.v < 1 or q.v <> trunc(q.v) or q.v > 2147483647) then 'invalid_quantity'
               when t.v is null then 'unparseable_date'
               when nullif(r.event_id, '') is not null and r.event_id !~ '${UUID}' then 'invalid_event_id' end as rule,
          case when ${blank('r.event_time')} then 'event_time is empty'
               when ${blank('r.event_type')} then 'event_type is empty'
               when ${blank('r.product_id')} then 'product_id is empty'
               when ${blank('r.price')} then 'price is empty'
               when ${blank('r.user_id')} then 'user_id is empty'
               when ${blank('r.user_session')} then 'user_session is empty'
               when r.event_type not in (${types}) then 'event_type ' || quote_literal(r.event_type) || ' is not one of ${EVENT_TYPES.join(', ')}'
               when p.v is null then 'price ' || quote_literal(r.price) || ' is not a number'
               when r.quantity is not null and q.v is null then 'quantity ' || quote_literal(r.quantity) || ' is not a number'
               when p.v < 0 then 'price is ' || p.v
               when q.v is not null and (q.v < 1 or q.v <> trunc(q.v) or q.v > 2147483647)
                 then 'quantity ' || q.v || ' is not a whole number of at least 1'
               when t.v is null then 'event_time ' || quote_literal(r.event_time) || ' is not a date'
               when nullif(r.event_id, '') is not null and r.event_id !~ '${UUID}'
                 then 'event_id ' || quote_literal(r.event_id) || ' is not a UUID' end as detail) x`);
    await markRefusedRows(client);
    // An event's id: the one given, or a UUID from its content and its occurrence in the file.
    await client.query(`
      create temp table import_events on commit drop as
      select distinct on (event_id) *
        from (select coalesce(p.given_id::uuid,
                              md5(h.content || '#' || row_number() over (partition by h.content order by p.line))::uuid) as event_id,
                     p.*
                from import_parsed p
                cross join lateral (select concat_ws('|', to_char(p.event_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                                                     p.event_type, p.product_id, p.category_code, p.brand, trim_scale(p.price),
                                                     p.quantity, p.user_id, p.user_session, p.email) as content) h
               where p.rule is null) e
       order by event_id, line`);
    await client.query(`
      select staging.ensure_raw_events_partition(day)
        from (select distinct (event_time at time zone 'UTC')::date as day from import_events) d`);
    const { rows: stored } = await client.query<{ inserted: number }>(`
      with claimed as (
        insert into staging.raw_event_ids (event_id, event_time, user_session, forwarded_at)
        select event_id, event_time, user_session, now() from import_events
        on conflict (event_id) do nothing
        returning event_id
      ), stored as (
        insert into staging.raw_events
          (event_id, event_time, event_type, user_id, user_session, product_id, price, quantity,
           category_code, brand, email)
        select e.event_id, e.event_time, e.event_type, e.user_id, e.user_session, e.product_id, e.price,
               e.quantity::int, e.category_code, e.brand, e.email
          from import_events e join claimed c using (event_id)
        returning 1
      )
      select count(*)::int as inserted from stored`);

    const { rows } = await client.query<
      { loaded: number; first: string | null; last: string | null } & Record<string, number>
    >(`
      select count(*)::int as loaded,
             count(*) filter (where event_type = 'view')::int as views,
             count(*) filter (where event_type = 'cart')::int as carts,
             count(*) filter (where event_type = 'remove_from_cart')::int as removes,
             count(*) filter (where event_type = 'purchase')::int as purchases,
             count(distinct user_session)::int as sessions,
             count(distinct user_id)::int as users,
             count(distinct product_id)::int as products,
             coalesce(round(sum(price * quantity) filter (where event_type = 'purchase'), 2), 0)::float8 as purchase_revenue,
             to_char(min(event_time), 'YYYY-MM-DD') as first, to_char(max(event_time), 'YYYY-MM-DD') as last
        from import_events`);
    const { loaded, first, last, ...facts } = rows[0];
    const duplicates =
      (await client.query<{ n: number }>('select count(*)::int as n from import_parsed where rule is null'))
        .rows[0].n - loaded;
    const notes = [`event_time formats: ${reading.formats.join(', ') || 'none'}`, ...reading.notes];
    if (duplicates > 0)
      notes.push(`${duplicates} row(s) repeat an event_id given earlier in the file: stored once.`);
    return {
      rowsRead,
      loaded,
      inserted: stored[0].inserted,
      updated: 0,
      unchanged: loaded - stored[0].inserted,
      facts,
      firstDate: first,
      lastDate: last,
      tables: ['staging.raw_events'],
      notes,
    };
  });
}
