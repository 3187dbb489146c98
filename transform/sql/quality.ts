/**
 * Quality rules that look at more than one row: duplicates and orphans. Row-level rules are applied
 * while mapping (canonical.ts). Each statement marks only rows still clean (`rule is null`) for
 * source $1; a marked row goes to `ops.quarantine` and nowhere else. With `scoped`, a statement looks
 * only at the rows of the transform's scope (canonical.ts, SCOPED_CANONICAL and SCOPE_TABLES): a scope
 * holds every line of each order in it, so rules over an order's lines see all of them; a line's
 * product and a payment's order are looked up among every canonical row (allCanonicalOf).
 */
import type { CanonicalEntity } from '../../sources/definition';
import { allCanonicalOf, canonicalOf, inScope } from './canonical';

/**
 * Rows whose natural key appears more than once: the most recently changed copy stays, the others
 * are duplicates.
 */
export const flagDuplicateKeys = (table: string, key: string, entity: CanonicalEntity, scoped = false) => `
  update ${table} c
     set rule = 'duplicate', detail = '${key} ' || quote_literal(c.${key}) || ' appears ' || d.copies || ' times'
    from (select ctid, count(*) over w as copies,
                 row_number() over (w order by changed_at_ts desc nulls last, md5(t::text)) as k
            from ${table} t
           where source = $1 and rule is null
             and ${key} in (select ${key} from ${table} where source = $1 and rule is null${inScope(entity, scoped, key)}
                             group by ${key} having count(*) > 1)
          window w as (partition by ${key})) d
   where c.ctid = d.ctid and d.k > 1`;

/**
 * Order lines written twice under different line ids (a double-submitted checkout): the same order,
 * product, quantity, unit price and discount. The line with the lowest id stays.
 */
export const flagDuplicateLines = (scoped: boolean) => `
  update ${canonicalOf('orderLines', scoped)} c
     set rule = 'duplicate',
         detail = 'same order, product, quantity, unit price and discount as line ' || quote_literal(d.kept)
    from (select ctid, first_value(order_line_id) over w as kept, row_number() over w as k
            from ${canonicalOf('orderLines', scoped)}
           where source = $1 and rule is null
             and (order_id, product_id, quantity, unit_price, discount) in (
                   select order_id, product_id, quantity, unit_price, discount
                     from ${canonicalOf('orderLines', scoped)}
                    where source = $1 and rule is null${inScope('orderLines', scoped)}
                    group by 1, 2, 3, 4, 5 having count(*) > 1)
          window w as (partition by order_id, product_id, quantity, unit_price, discount
                       order by length(order_line_id), order_line_id)) d
   where c.ctid = d.ctid and d.k > 1`;

/**
 * For a source whose repeated identical lines are one line (`duplicates: "sum"`, e.g. an export that
 * lists an item once per unit): each group of clean lines with the same order, product, quantity,
 * unit price and discount becomes its lowest-id line, with the quantities added and `source_lines`
 * saying how many lines it stands for; the others leave the canonical table (they are in the sum).
 */
export const sumDuplicateLines = (scoped: boolean) => `
  with grouped as (
    select ctid, row_number() over w as k, sum(quantity) over g as quantity, count(*) over g as lines
      from ${canonicalOf('orderLines', scoped)}
     where source = $1 and rule is null
       and (order_id, product_id, quantity, unit_price, discount) in (
             select order_id, product_id, quantity, unit_price, discount
               from ${canonicalOf('orderLines', scoped)}
              where source = $1 and rule is null${inScope('orderLines', scoped)}
              group by 1, 2, 3, 4, 5 having count(*) > 1)
    window g as (partition by order_id, product_id, quantity, unit_price, discount),
           w as (g order by length(order_line_id), order_line_id)
  ), summed as (
    update ${canonicalOf('orderLines', scoped)} c set quantity = g.quantity, source_lines = g.lines
      from grouped g where c.ctid = g.ctid and g.k = 1
  )
  delete from ${canonicalOf('orderLines', scoped)} c using grouped g where c.ctid = g.ctid and g.k > 1`;

/**
 * Lines whose order, or product, is missing or quarantined: they could not be placed in the star
 * schema. Two statements, each a plain anti-join (an OR of two NOT EXISTS would run a subquery per row).
 * Scoped, a clean line's order (and a clean payment's) is among the scope's orders, unless rows from
 * outside the scope joined it (`ordersInScope` false): then every order is looked at.
 */
export const flagOrphanedLinesByOrder = (scoped: boolean, ordersInScope = false) => `
  update ${canonicalOf('orderLines', scoped)} l
     set rule = 'orphaned_line', detail = 'order ' || quote_literal(l.order_id) || ' is missing or quarantined'
   where l.source = $1 and l.rule is null${inScope('orderLines', scoped, 'l.order_line_id')}
     and not exists (select 1 from ${ordersInScope ? canonicalOf('orders', scoped) : allCanonicalOf('orders', scoped)} o
                      where o.source = l.source and o.order_id = l.order_id and o.rule is null)`;

export const flagOrphanedLinesByProduct = (scoped: boolean) => `
  update ${canonicalOf('orderLines', scoped)} l
     set rule = 'orphaned_line', detail = 'product ' || quote_literal(l.product_id) || ' is missing or quarantined'
   where l.source = $1 and l.rule is null${inScope('orderLines', scoped, 'l.order_line_id')}
     and not exists (select 1 from ${allCanonicalOf('products', scoped)} p
                      where p.source = l.source and p.product_id = l.product_id and p.rule is null)`;

/** Payments of an order that is missing or quarantined. */
export const flagOrphanedPayments = (scoped: boolean, ordersInScope = false) => `
  update ${canonicalOf('payments', scoped)} p
     set rule = 'orphaned_payment', detail = 'order ' || quote_literal(p.order_id) || ' is missing or quarantined'
   where p.source = $1 and p.rule is null${inScope('payments', scoped, 'p.payment_id')}
     and not exists (select 1 from ${ordersInScope ? canonicalOf('orders', scoped) : allCanonicalOf('orders', scoped)} o
                      where o.source = p.source and o.order_id = p.order_id and o.rule is null)`;

/**
 * Every marked row into `ops.quarantine` with its rule and this run ($2); a row seen again by a later
 * run only gets that run as its last; rows no longer marked are resolved. Returns nothing.
 */
const QUARANTINED: [CanonicalEntity, string, string][] = [
  ['customers', 'customers', 'customer_id'],
  ['products', 'products', 'product_id'],
  ['orders', 'orders', 'order_id'],
  ['orderLines', 'order_lines', 'order_line_id'],
  ['payments', 'payments', 'payment_id'],
];

/** Scoped: the marked rows of the scope (SCOPED_CANONICAL holds them, and those without a key). */
export const quarantine = (scoped: boolean) => `
  with marked as (
    ${QUARANTINED.map(
      ([entity, name, key]) => `select '${name}' as entity, ${key} as natural_key, rule, detail,
           to_jsonb(c) - '{source,rule,detail}'::text[] as record
      from ${canonicalOf(entity, scoped)} c where source = $1 and rule is not null`,
    ).join('\n    union all\n    ')}
  )
  insert into ops.quarantine as q
    (source, entity, natural_key, rule, detail, record, record_hash, first_run_id, last_run_id)
  select distinct on (entity, rule, md5(record::text))
         $1, entity, natural_key, rule, detail, record, md5(record::text), $2, $2
    from marked
  on conflict (source, entity, rule, record_hash) do update
     set last_run_id = excluded.last_run_id, last_seen_at = now(), detail = excluded.detail, resolved_at = null`;

/**
 * Open quarantine rows this run did not see again are resolved: all of the source's, or, scoped, those
 * of keys in the scope (a row outside it is as the last run left it, quarantined or not).
 */
export const resolveQuarantine = (scoped: boolean) => `
  update ops.quarantine set resolved_at = now()
   where source = $1 and resolved_at is null and last_run_id <> $2${
     scoped
       ? ` and (natural_key is null
            or (entity = 'customers'${inScope('customers', true, 'natural_key')})
            or (entity = 'products'${inScope('products', true, 'natural_key')})
            or (entity = 'orders'${inScope('orders', true, 'natural_key')})
            or (entity = 'order_lines'${inScope('orderLines', true, 'natural_key')})
            or (entity = 'payments'${inScope('payments', true, 'natural_key')}))`
       : ''
   }`;

/** How many rows of source $1 broke each rule in this mapping. */
export const COUNT_BY_RULE = `
  select entity, rule, count(*)::int as rows from (
    select 'customers' as entity, rule from staging.canonical_customers where source = $1 and rule is not null
    union all select 'products', rule from staging.canonical_products where source = $1 and rule is not null
    union all select 'orders', rule from staging.canonical_orders where source = $1 and rule is not null
    union all select 'order_lines', rule from staging.canonical_order_lines where source = $1 and rule is not null
    union all select 'payments', rule from staging.canonical_payments where source = $1 and rule is not null
  ) marked group by entity, rule order by entity, rule`;
