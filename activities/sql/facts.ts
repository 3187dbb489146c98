/**
 * The facts in `core`, from the clean canonical rows of source $1 (run $2). Each fact points at the
 * dimension versions valid when it happened; an upsert changes a row only when a value differs, so
 * re-running a date changes nothing, and a late change at the source (a cancellation, a return)
 * updates its rows once. Facts whose row is gone or now quarantined are deleted.
 */

const FACT_ORDER_LINE_VALUES = [
  'order_id',
  'date_key',
  'placed_at',
  'customer_key',
  'product_key',
  'quantity',
  'unit_price',
  'discount',
  'net_amount',
  'status',
  'currency',
];

const changed = (columns: string[], table: string) =>
  `(${columns.map((c) => `${table}.${c}`).join(', ')}) is distinct from (${columns.map((c) => `excluded.${c}`).join(', ')})`;

/** Returns one row: how many facts were inserted and how many updated. */
export const UPSERT_FACT_ORDER_LINE = `
  with upsert as (
    insert into core.fact_order_line as f
      (source, order_line_id, ${FACT_ORDER_LINE_VALUES.join(', ')}, run_id)
    select l.source, l.order_line_id, l.order_id, to_char(o.placed_at_ts, 'YYYYMMDD')::int, o.placed_at_ts,
           coalesce(dc.customer_key, 0), dp.product_key, l.quantity, l.unit_price, l.discount,
           l.quantity * l.unit_price * (1 - l.discount), o.status, o.currency, $2
      from staging.canonical_order_lines l
      join staging.canonical_orders o on o.source = l.source and o.order_id = l.order_id and o.rule is null
      join core.dim_product dp on dp.source = l.source and dp.product_id = l.product_id
                              and dp.valid_from <= o.placed_at_ts and o.placed_at_ts < dp.valid_to
      left join core.dim_customer dc on dc.source = o.source and dc.customer_id = o.customer_id
                                    and dc.valid_from <= o.placed_at_ts and o.placed_at_ts < dc.valid_to
     where l.source = $1 and l.rule is null
    on conflict (source, order_line_id) do update
       set ${FACT_ORDER_LINE_VALUES.map((c) => `${c} = excluded.${c}`).join(', ')}, run_id = excluded.run_id
     where ${changed(FACT_ORDER_LINE_VALUES, 'f')}
    returning (xmax = 0) as inserted
  )
  select count(*) filter (where inserted)::int as inserted, count(*) filter (where not inserted)::int as updated
    from upsert`;

export const DELETE_STALE_FACT_ORDER_LINES = `
  delete from core.fact_order_line f
   where f.source = $1
     and not exists (select 1 from staging.canonical_order_lines l
                      where l.source = f.source and l.order_line_id = f.order_line_id and l.rule is null)`;

const FACT_PAYMENT_VALUES = ['order_id', 'date_key', 'paid_at', 'customer_key', 'amount', 'method', 'status'];

export const UPSERT_FACT_PAYMENT = `
  with upsert as (
    insert into core.fact_payment as f (source, payment_id, ${FACT_PAYMENT_VALUES.join(', ')}, run_id)
    select p.source, p.payment_id, p.order_id, to_char(p.paid_at_ts, 'YYYYMMDD')::int, p.paid_at_ts,
           coalesce(dc.customer_key, 0), p.amount, p.method, p.status, $2
      from staging.canonical_payments p
      join staging.canonical_orders o on o.source = p.source and o.order_id = p.order_id and o.rule is null
      left join core.dim_customer dc on dc.source = o.source and dc.customer_id = o.customer_id
                                    and dc.valid_from <= p.paid_at_ts and p.paid_at_ts < dc.valid_to
     where p.source = $1 and p.rule is null
    on conflict (source, payment_id) do update
       set ${FACT_PAYMENT_VALUES.map((c) => `${c} = excluded.${c}`).join(', ')}, run_id = excluded.run_id
     where ${changed(FACT_PAYMENT_VALUES, 'f')}
    returning (xmax = 0) as inserted
  )
  select count(*) filter (where inserted)::int as inserted, count(*) filter (where not inserted)::int as updated
    from upsert`;

export const DELETE_STALE_FACT_PAYMENTS = `
  delete from core.fact_payment f
   where f.source = $1
     and not exists (select 1 from staging.canonical_payments p
                      where p.source = f.source and p.payment_id = f.payment_id and p.rule is null)`;
