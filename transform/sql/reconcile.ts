/**
 * Reconciliation: order lines and their revenue (quantity × unit price × (1 − discount)) per day,
 * counted on the source through its own mapping, and in the warehouse as facts (each standing for
 * `source_lines` source lines: more than one where a source sums repeated lines) plus quarantined
 * lines. Every source line must be in exactly one of the two, with the same amount. Days are the
 * order's placed_at in the session's time zone (the shop's); lines without a usable date form one
 * more bucket, `(no date)`.
 */

const NO_DATE = `'(no date)'`;

/**
 * Runs on the source, with the search path on the source's schema: its orders and order-lines
 * mapping selects, grouped by day (with the sum of hashtext of the lines' ids, as sourceWholeTotals). `present` are the columns the order-lines mapping returns;
 * `softParse` is false for a Postgres older than 16 (no pg_input_is_valid), and 'warehouse' over
 * staged tables in the warehouse, whose ops.input_is_valid does it on every version. 'raw' groups by
 * the order's placed_at as text instead of its day, for the warehouse to parse (WAREHOUSE_DAYS): a
 * PostgreSQL 15 source holding a value that is not a date.
 */
export function sourceDailyTotals(
  mapping: { orders: string; orderLines: string },
  present: Set<string>,
  softParse: boolean | 'warehouse' | 'raw',
): string {
  const discount = present.has('discount') ? 'coalesce(l.discount::numeric, 0)' : '0';
  const day =
    softParse === 'raw'
      ? 'o.placed_at'
      : softParse
        ? `case when ${softParse === 'warehouse' ? 'ops.input_is_valid' : 'pg_input_is_valid'}(o.placed_at, 'timestamptz') then to_char(o.placed_at::timestamptz, 'YYYY-MM-DD') end`
        : `to_char(o.placed_at::timestamptz, 'YYYY-MM-DD')`;
  return `
    with l as (${mapping.orderLines}),
         o_all as (${mapping.orders}),
         o as (select distinct on (order_id::text) order_id::text as order_id, placed_at::text as placed_at
                 from o_all where nullif(btrim(order_id::text), '') is not null order by order_id::text)
    select coalesce(${day}, ${NO_DATE}) as day, count(*)::bigint as lines,
           coalesce(sum(l.quantity::numeric * l.unit_price::numeric * (1 - ${discount})), 0)::text as amount,
           coalesce(sum(hashtext(btrim(l.order_line_id::text))), 0)::text as key_hash
      from l left join o on o.order_id = l.order_id::text
     group by 1`;
}

/** A source line's discount and its order's day, as the source's own SQL computes them. */
function lineExpressions(present: Set<string>, softParse: boolean) {
  return {
    discount: present.has('discount') ? 'coalesce(l.discount::numeric, 0)' : '0',
    day: softParse
      ? `case when pg_input_is_valid(o.placed_at, 'timestamptz') then to_char(o.placed_at::timestamptz, 'YYYY-MM-DD') end`
      : `to_char(o.placed_at::timestamptz, 'YYYY-MM-DD')`,
  };
}

/**
 * Runs on the source, like sourceDailyTotals, for the days in $1 (text[], 'YYYY-MM-DD') only: the
 * lines of the orders placed on them, each order's placed_at chosen as sourceDailyTotals chooses it.
 * The '(no date)' bucket is not among them (the caller derives it from the whole-source totals).
 */
export function sourceTotalsOfDays(
  mapping: { orders: string; orderLines: string },
  present: Set<string>,
  softParse: boolean,
): string {
  const { discount, day } = lineExpressions(present, softParse);
  return `
    with l as (${mapping.orderLines}),
         o_all as (${mapping.orders}),
         o as (select distinct on (order_id::text) order_id::text as order_id, placed_at::text as placed_at
                 from o_all where nullif(btrim(order_id::text), '') is not null order by order_id::text),
         od as (select order_id, day from (select o.order_id, ${day} as day from o offset 0) x where day = any($1::text[]))
    select od.day, count(*)::bigint as lines,
           coalesce(sum(l.quantity::numeric * l.unit_price::numeric * (1 - ${discount})), 0)::text as amount,
           coalesce(sum(hashtext(btrim(l.order_line_id::text))), 0)::text as key_hash
      from l join od on od.order_id = l.order_id::text
     group by 1`;
}

/**
 * Runs in the warehouse, in the shop's time zone: $1 the source's totals by placed_at as text
 * (sourceDailyTotals 'raw', as JSON), summed by the day each text is, as sourceDailyTotals makes it on
 * PostgreSQL 16 (`(no date)` for one that is not a date).
 */
export const WAREHOUSE_DAYS = `
  select coalesce(case when ops.input_is_valid(r.day, 'timestamptz') then to_char(r.day::timestamptz, 'YYYY-MM-DD') end,
                  ${NO_DATE}) as day,
         sum(r.lines)::bigint as lines, sum(r.amount)::text as amount, sum(r.key_hash)::text as key_hash
    from jsonb_to_recordset($1::jsonb) as r(day text, lines bigint, amount numeric, key_hash numeric)
   group by 1`;

/**
 * Runs in the warehouse: $1 source, $2 the source's totals as JSON [{day, lines, amount}]. Returns the
 * days that differ (at most 1,000), and in the last row (day null) the totals of both sides.
 */
export const COMPARE_DAILY_TOTALS = `
  with facts as (
    select to_char(d.date, 'YYYY-MM-DD') as day, sum(f.source_lines) as lines, sum(f.net_amount) as amount, 0 as q_lines, 0 as q_amount
      from core.fact_order_line f join core.dim_date d using (date_key)
     where f.source = $1 group by 1
  ),
  quarantined as (
    select coalesce(to_char(o.placed_at_ts, 'YYYY-MM-DD'), ${NO_DATE}) as day, count(*) as lines,
           coalesce(sum(l.quantity * l.unit_price * (1 - l.discount)), 0) as amount
      from staging.canonical_order_lines l
      left join (select distinct on (order_id) order_id, placed_at_ts from staging.canonical_orders
                  where source = $1
                  order by order_id, rule is null desc, changed_at_ts desc nulls last) o on o.order_id = l.order_id
     where l.source = $1 and l.rule is not null
     group by 1
  ),
  warehouse as (
    select day, sum(lines) as lines, sum(amount) as amount, sum(q_lines) as q_lines, sum(q_amount) as q_amount
      from (select day, lines, amount, 0 as q_lines, 0 as q_amount from facts
            union all select day, lines, amount, lines, amount from quarantined) x
     group by day
  ),
  source as (select * from jsonb_to_recordset($2::jsonb) as s(day text, lines bigint, amount numeric)),
  compared as (
    select coalesce(s.day, w.day) as day, coalesce(s.lines, 0) as source_lines, coalesce(s.amount, 0) as source_amount,
           coalesce(w.lines, 0) as warehouse_lines, coalesce(w.amount, 0) as warehouse_amount,
           coalesce(w.q_lines, 0) as quarantined_lines, coalesce(w.q_amount, 0) as quarantined_amount
      from source s full join warehouse w on s.day = w.day
  )
  (select day, source_lines::bigint, source_amount::text, warehouse_lines::bigint, warehouse_amount::text,
          quarantined_lines::bigint, quarantined_amount::text, count(*) over ()::int as days
     from compared
    where source_lines <> warehouse_lines or source_amount <> warehouse_amount
    order by day limit 1000)
  union all
  select null, coalesce(sum(source_lines), 0)::bigint, coalesce(sum(source_amount), 0)::text,
         coalesce(sum(warehouse_lines), 0)::bigint, coalesce(sum(warehouse_amount), 0)::text,
         coalesce(sum(quarantined_lines), 0)::bigint, coalesce(sum(quarantined_amount), 0)::text, count(*)::int
    from compared`;

/**
 * Runs on the source, like sourceDailyTotals: its order lines over all days at once — lines, revenue,
 * and the sum of hashtext of their ids — by one pass over the order-lines mapping, without the join to
 * orders that days need; equal to the sums of sourceDailyTotals over the days. The reconciliation's
 * cheap check: when every day last matched, the warehouse is unchanged since, and these totals are
 * too, every day still matches.
 */
export function sourceWholeTotals(orderLines: string, present: Set<string>): string {
  const discount = present.has('discount') ? 'coalesce(l.discount::numeric, 0)' : '0';
  return `
    select count(*)::bigint::text as lines,
           coalesce(sum(l.quantity::numeric * l.unit_price::numeric * (1 - ${discount})), 0)::text as amount,
           coalesce(sum(hashtext(btrim(l.order_line_id::text))), 0)::text as key_hash
      from (${orderLines}) l`;
}

/**
 * Runs in the warehouse, in a key-scoped transform: the order lines of its scope as
 * COMPARE_DAILY_TOTALS counts them (the facts in `facts`, and the quarantined lines in `lines` with
 * their order's day in `orders`), per day, with the sum of hashtext of their ids and the quarantined
 * part apart. The scope's lines are those `member` (over a row alias) holds for. $1: source.
 */
export const scopeLineTotals = (
  lines: string,
  orders: string,
  facts: string,
  member: (alias: string) => string,
) => `
  select day, sum(lines)::bigint as lines, coalesce(sum(amount), 0)::text as amount,
         coalesce(sum(key_hash), 0)::text as key_hash, sum(q_lines)::bigint as q_lines,
         coalesce(sum(q_amount), 0)::text as q_amount
    from (select to_char(d.date, 'YYYY-MM-DD') as day, f.source_lines as lines, f.net_amount as amount,
                 hashtext(f.order_line_id)::bigint as key_hash, 0 as q_lines, 0::numeric as q_amount
            from ${facts} f join core.dim_date d using (date_key)
           where f.source = $1 and ${member('f')}
          union all
          select coalesce(to_char(o.placed_at_ts, 'YYYY-MM-DD'), ${NO_DATE}), 1, l.quantity * l.unit_price * (1 - l.discount),
                 hashtext(l.order_line_id), 1, l.quantity * l.unit_price * (1 - l.discount)
            from ${lines} l
            left join (select distinct on (order_id) order_id, placed_at_ts from ${orders}
                        where source = $1
                        order by order_id, rule is null desc, changed_at_ts desc nulls last) o on o.order_id = l.order_id
           where l.source = $1 and l.rule is not null and ${member('l')}) x
   group by day`;

/**
 * Runs on the source, like sourceDailyTotals: per day, the lines (through the mapping) that `member`
 * (over the mapped lines `l`) holds for, each on its order's day as sourceDailyTotals finds it among
 * the orders `orderMember` (over the mapped orders, unqualified) holds for; a line whose order is not
 * among them counts as `(no date)`. Neither condition has a subquery, so both reach the source's indexes.
 */
export function sourceTotalsOfLines(
  mapping: { orders: string; orderLines: string },
  present: Set<string>,
  softParse: boolean,
  member: string,
  orderMember: string,
): string {
  const { discount, day } = lineExpressions(present, softParse);
  return `
    with l as (select * from (${mapping.orderLines}) l where ${member}),
         o_all as (${mapping.orders}),
         o as (select distinct on (order_id::text) order_id::text as order_id, placed_at::text as placed_at
                 from o_all where nullif(btrim(order_id::text), '') is not null and ${orderMember}
                order by order_id::text)
    select coalesce(${day}, ${NO_DATE}) as day, count(*)::bigint as lines,
           coalesce(sum(l.quantity::numeric * l.unit_price::numeric * (1 - ${discount})), 0)::text as amount,
           coalesce(sum(hashtext(btrim(l.order_line_id::text))), 0)::text as key_hash
      from l left join o on o.order_id = l.order_id::text
     group by 1`;
}
