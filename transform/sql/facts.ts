/**
 * The facts in `core`, from the clean canonical rows of source $1 (run $2). The facts a run wants are
 * built once into a temporary table, each pointing at the dimension versions valid when it happened;
 * then a set-based diff writes only what differs: changed rows are updated, new ones inserted, ones
 * whose source row is gone or now quarantined deleted. Re-running a date writes nothing, and a late
 * change at the source (a cancellation, a return) updates its rows once.
 */

import type { CanonicalEntity } from '../../sources/definition';
import { SCOPE_TABLES, canonicalOf, inScope } from './canonical';

interface FactSpec {
  entity: CanonicalEntity;
  table: string;
  key: string;
  staged: string;
  /** Columns compared and written, besides source, key and run_id. */
  values: string[];
  /** The select of the wanted facts: source, key, then `values` in order; scoped, those in the scope. */
  select: (scoped: boolean) => string;
}

const ORDER_LINE: FactSpec = {
  entity: 'orderLines',
  table: 'core.fact_order_line',
  key: 'order_line_id',
  staged: 'cartflow_fact_order_line',
  values: [
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
    'source_lines',
  ],
  select: (scoped) => `
    select l.source, l.order_line_id, l.order_id, to_char(o.placed_at_ts, 'YYYYMMDD')::int, o.placed_at_ts,
           coalesce(dc.customer_key, 0), dp.product_key, l.quantity, l.unit_price, l.discount,
           l.quantity * l.unit_price * (1 - l.discount), o.status, o.currency, l.source_lines
      from ${canonicalOf('orderLines', scoped)} l
      join ${canonicalOf('orders', scoped)} o on o.source = l.source and o.order_id = l.order_id and o.rule is null
      join core.dim_product dp on dp.source = l.source and dp.product_id = l.product_id
                              and dp.valid_from <= o.placed_at_ts and o.placed_at_ts < dp.valid_to
      left join core.dim_customer dc on dc.source = o.source and dc.customer_id = o.customer_id
                                    and dc.valid_from <= o.placed_at_ts and o.placed_at_ts < dc.valid_to
     where l.source = $1 and l.rule is null${inScope('orderLines', scoped, 'l.order_line_id')}`,
};

const PAYMENT: FactSpec = {
  entity: 'payments',
  table: 'core.fact_payment',
  key: 'payment_id',
  staged: 'cartflow_fact_payment',
  values: ['order_id', 'date_key', 'paid_at', 'customer_key', 'amount', 'method', 'status'],
  select: (scoped) => `
    select p.source, p.payment_id, p.order_id, to_char(p.paid_at_ts, 'YYYYMMDD')::int, p.paid_at_ts,
           coalesce(dc.customer_key, 0), p.amount, p.method, p.status
      from ${canonicalOf('payments', scoped)} p
      join ${canonicalOf('orders', scoped)} o on o.source = p.source and o.order_id = p.order_id and o.rule is null
      left join core.dim_customer dc on dc.source = o.source and dc.customer_id = coalesce(p.customer_id, o.customer_id)
                                    and dc.valid_from <= p.paid_at_ts and p.paid_at_ts < dc.valid_to
     where p.source = $1 and p.rule is null${inScope('payments', scoped, 'p.payment_id')}`,
};

/**
 * Scoped, an order in scope has all its line facts and payment facts in the lines' and payments'
 * scopes (each line or payment of an order in scope is): the staged facts of the scope, which are
 * what the order-line and payment facts of its keys are once written, hold them all.
 *
 * One row per clean order, with or without lines: its totals add up its order-line facts, its paid
 * amount its payment facts that did not fail, less its refunds (status `refunded`, whichever sign the
 * source gives their amount). Runs after both are written.
 */
const ORDER: FactSpec = {
  entity: 'orders',
  table: 'core.fact_order',
  key: 'order_id',
  staged: 'cartflow_fact_order',
  values: [
    'status',
    'customer_key',
    'placed_at',
    'date_key',
    'currency',
    'line_count',
    'item_quantity',
    'gross_amount',
    'net_amount',
    'paid_amount',
  ],
  select: (scoped) => `
    select o.source, o.order_id, o.status, coalesce(dc.customer_key, 0), o.placed_at_ts,
           to_char(o.placed_at_ts, 'YYYYMMDD')::int, o.currency, coalesce(l.lines, 0)::int,
           coalesce(l.quantity, 0), coalesce(l.gross, 0), coalesce(l.net, 0), coalesce(p.paid, 0)
      from ${canonicalOf('orders', scoped)} o
      left join (select order_id, count(*) as lines, sum(quantity) as quantity,
                        sum(quantity * unit_price) as gross, sum(net_amount) as net
                   from ${scoped ? ORDER_LINE.staged : ORDER_LINE.table}
                  where source = $1${inScope('orders', scoped, 'order_id')}
                  group by order_id) l on l.order_id = o.order_id
      left join (select order_id,
                        sum(case when status = 'refunded' then -abs(amount) else amount end) as paid
                   from ${scoped ? PAYMENT.staged : PAYMENT.table}
                  where source = $1 and status <> 'failed'${inScope('orders', scoped, 'order_id')}
                  group by order_id) p on p.order_id = o.order_id
      left join core.dim_customer dc on dc.source = o.source and dc.customer_id = o.customer_id
                                    and dc.valid_from <= o.placed_at_ts and o.placed_at_ts < dc.valid_to
     where o.source = $1 and o.rule is null${inScope('orders', scoped, 'o.order_id')}`,
};

/** A key-scoped transform's copy of the facts of its keys, each with its row's ctid (`tid`). */
export const oldFactsOf = (entity: 'orderLines' | 'payments' | 'orders') =>
  `pg_temp.cartflow_old_${{ orderLines: ORDER_LINE, payments: PAYMENT, orders: ORDER }[entity].staged.replace('cartflow_', '')}`;

/**
 * With `scoped`, only the facts of keys in the transform's scope are built and compared: the facts of
 * those keys are read once (`fetch`, into oldFactsOf) and the diff joins the two small sets, then
 * writes by ctid, so the facts table is scanned once, not by each statement.
 */
function factStatements(f: FactSpec, scoped = false) {
  const all = ['source', f.key, ...f.values];
  const tuple = (alias: string) => `(${f.values.map((c) => `${alias}.${c}`).join(', ')})`;
  const old = oldFactsOf(f.entity as 'orderLines' | 'payments' | 'orders');
  return {
    /** $1: the wanted facts, once. */
    stage: `create temp table ${f.staged} (${all.map((c) => `"${c}"`).join(', ')}) on commit drop as ${f.select(scoped)}`,
    /**
     * The staged facts' key, indexed: the stale-fact delete looks each fact up in them, and with the
     * facts table's statistics stale (analyzed when it held another source's few rows, or none) the
     * planner may take a nested loop over them, which without the index reads them once per fact.
     */
    index: `create index on ${f.staged} (${f.key})`,
    analyze: `analyze ${f.staged}`,
    /** Scoped, the facts of the scope's keys as they were (fetch). */
    old,
    /** $1: the wanted facts as staged. */
    staged: `pg_temp.${f.staged}`,
    /**
     * $1: scoped, the facts of the scope's keys as they are, each looked up by its primary key (source,
     * key): the subquery is fenced (`offset 0`), so the planner cannot turn the lookups into a hash join
     * over a scan of the whole facts table, which it costs as cheaper than thousands of index probes
     * although the probes take a fraction of the scan's time.
     */
    fetch: scoped
      ? `create temp table ${old.replace('pg_temp.', '')} on commit drop as
         select f.* from (select distinct k from ${SCOPE_TABLES[f.entity]}) k
          cross join lateral (select f.ctid as tid, f.* from ${f.table} f
                               where f.source = $1 and f.${f.key} = k.k offset 0) f`
      : undefined,
    /** $1, $2: rows whose values differ. */
    update: scoped
      ? `
      update ${f.table} f set ${f.values.map((c) => `${c} = s.${c}`).join(', ')}, run_id = $2
        from ${old} o join ${f.staged} s on s.${f.key} = o.${f.key}
       where f.ctid = o.tid and f.source = $1 and ${tuple('o')} is distinct from ${tuple('s')}`
      : `
      update ${f.table} f set ${f.values.map((c) => `${c} = s.${c}`).join(', ')}, run_id = $2
        from ${f.staged} s
       where f.source = $1 and s.source = f.source and s.${f.key} = f.${f.key}
         and ${tuple('f')} is distinct from ${tuple('s')}`,
    /**
     * $1, $2: rows not there yet. The whole source's are inserted past the primary key (source, key),
     * not by an anti-join with the facts table: planned while the table is empty or its statistics
     * stale, that anti-join is a nested loop that scans the table once per row as the insert grows
     * it (7.5 minutes for 240,007 lines instead of seconds).
     */
    insert: scoped
      ? `
      insert into ${f.table} (${all.join(', ')}, run_id)
      select ${all.map((c) => `s.${c}`).join(', ')}, $2 from ${f.staged} s
       where s.source = $1 and not exists (select 1 from ${old} f where f.source = s.source and f.${f.key} = s.${f.key})`
      : `
      insert into ${f.table} (${all.join(', ')}, run_id)
      select ${all.map((c) => `s.${c}`).join(', ')}, $2 from ${f.staged} s
       where s.source = $1
      on conflict (source, ${f.key}) do nothing`,
    /** $1: rows no longer wanted. */
    delete: scoped
      ? `
      delete from ${f.table} f using ${old} o
       where f.ctid = o.tid and f.source = $1 and not exists (select 1 from ${f.staged} s where s.${f.key} = o.${f.key})`
      : `
      delete from ${f.table} f
       where f.source = $1
         and not exists (select 1 from ${f.staged} s where s.${f.key} = f.${f.key})`,
  };
}

export const FACT_ORDER_LINE = factStatements(ORDER_LINE);
export const FACT_PAYMENT = factStatements(PAYMENT);
export const FACT_ORDER = factStatements(ORDER);
export const factStatementsOf = (scoped: boolean) => ({
  orderLines: factStatements(ORDER_LINE, scoped),
  payments: factStatements(PAYMENT, scoped),
  orders: factStatements(ORDER, scoped),
});
