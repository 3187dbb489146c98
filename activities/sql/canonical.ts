/**
 * Mapping a source's staged tables into cartflow's canonical entities (`staging.canonical_*`), with
 * the row-level quality rules evaluated on the way in. The mapping select runs as a subquery `m`;
 * columns it does not return are null (or their default). Every statement takes $1 = source name.
 */
import type { CanonicalEntity } from '../sources/definition';

/** Quality rules; a row is quarantined under the first it breaks, in this order. */
export const QUALITY_RULES = [
  'missing_key',
  'missing_value',
  'unparseable_date',
  'negative_quantity',
  'negative_price',
  'invalid_discount',
  'duplicate',
  'orphaned_line',
  'orphaned_payment',
] as const;
export type QualityRule = (typeof QUALITY_RULES)[number];

export const CANONICAL_TABLES: Record<CanonicalEntity, string> = {
  customers: 'staging.canonical_customers',
  products: 'staging.canonical_products',
  orders: 'staging.canonical_orders',
  orderLines: 'staging.canonical_order_lines',
  payments: 'staging.canonical_payments',
};

/** `m.col` as text, or null when the mapping does not return it. */
const text = (present: Set<string>, column: string) =>
  present.has(column) ? `m.${column}::text` : 'null::text';
const num = (present: Set<string>, column: string) =>
  present.has(column) ? `m.${column}::numeric` : 'null::numeric';
const blank = (expression: string) => `nullif(btrim(${expression}), '') is null`;
/** A date as mapped, parsed in the session's time zone (the shop's) when it parses, else null. */
const parsed = (expression: string) =>
  `case when pg_input_is_valid(${expression}, 'timestamptz') then (${expression})::timestamptz end`;
const badDate = (expression: string) =>
  `(${expression} is not null and not pg_input_is_valid(${expression}, 'timestamptz'))`;

/** The `insert … select` that maps one entity; `rule`/`detail` hold the first row-level rule broken. */
export function canonicalInsert(entity: CanonicalEntity, mapping: string, present: Set<string>): string {
  const t = (c: string) => `${text(present, c)} as ${c}`;
  const n = (c: string) => `${num(present, c)} as ${c}`;
  const raw = (c: string) => text(present, c);
  const at = (c: string) => `${parsed(raw(c))} as ${c}_ts`;
  switch (entity) {
    case 'customers':
      return `
        insert into staging.canonical_customers
          (source, customer_id, email, first_name, last_name, company_name, address_line, city, state,
           postal_code, country, signup_at, changed_at, signup_at_ts, changed_at_ts, rule, detail)
        select $1, x.*, r.rule, r.detail
          from (select ${t('customer_id')}, ${t('email')}, ${t('first_name')}, ${t('last_name')}, ${t('company_name')},
                       ${t('address_line')}, ${t('city')}, ${t('state')}, ${t('postal_code')}, ${t('country')},
                       ${t('signup_at')}, ${t('changed_at')}, ${at('signup_at')}, ${at('changed_at')}
                  from (${mapping}) m) x
          cross join lateral (select
            case when ${blank('x.customer_id')} then 'missing_key'
                 when ${badDate('x.signup_at')} or ${badDate('x.changed_at')} then 'unparseable_date' end as rule,
            case when ${blank('x.customer_id')} then 'customer_id is empty'
                 when ${badDate('x.signup_at')} then 'signup_at ' || quote_literal(x.signup_at) || ' is not a date'
                 when ${badDate('x.changed_at')} then 'changed_at ' || quote_literal(x.changed_at) || ' is not a date' end as detail) r`;
    case 'products':
      return `
        insert into staging.canonical_products
          (source, product_id, sku, name, category, brand, price, changed_at, changed_at_ts, rule, detail)
        select $1, x.*, r.rule, r.detail
          from (select ${t('product_id')}, ${t('sku')}, ${t('name')}, ${t('category')}, ${t('brand')}, ${n('price')},
                       ${t('changed_at')}, ${at('changed_at')}
                  from (${mapping}) m) x
          cross join lateral (select
            case when ${blank('x.product_id')} then 'missing_key'
                 when ${badDate('x.changed_at')} then 'unparseable_date'
                 when x.price < 0 then 'negative_price' end as rule,
            case when ${blank('x.product_id')} then 'product_id is empty'
                 when ${badDate('x.changed_at')} then 'changed_at ' || quote_literal(x.changed_at) || ' is not a date'
                 when x.price < 0 then 'price is ' || x.price end as detail) r`;
    case 'orders':
      return `
        insert into staging.canonical_orders
          (source, order_id, customer_id, status, placed_at, currency, changed_at, placed_at_ts, changed_at_ts, rule, detail)
        select $1, x.*, r.rule, r.detail
          from (select ${t('order_id')}, nullif(btrim(${raw('customer_id')}), '') as customer_id,
                       coalesce(${raw('status')}, 'placed') as status, ${t('placed_at')}, ${t('currency')},
                       ${t('changed_at')}, ${at('placed_at')}, ${at('changed_at')}
                  from (${mapping}) m) x
          cross join lateral (select
            case when ${blank('x.order_id')} then 'missing_key'
                 when x.placed_at is null then 'missing_value'
                 when ${badDate('x.placed_at')} or ${badDate('x.changed_at')} then 'unparseable_date' end as rule,
            case when ${blank('x.order_id')} then 'order_id is empty'
                 when x.placed_at is null then 'placed_at is empty'
                 when ${badDate('x.placed_at')} then 'placed_at ' || quote_literal(x.placed_at) || ' is not a date'
                 when ${badDate('x.changed_at')} then 'changed_at ' || quote_literal(x.changed_at) || ' is not a date' end as detail) r`;
    case 'orderLines':
      return `
        insert into staging.canonical_order_lines
          (source, order_line_id, order_id, product_id, quantity, unit_price, discount, changed_at, changed_at_ts, rule, detail)
        select $1, x.*, r.rule, r.detail
          from (select ${t('order_line_id')}, ${t('order_id')}, ${t('product_id')}, ${n('quantity')}, ${n('unit_price')},
                       coalesce(${num(present, 'discount')}, 0) as discount, ${t('changed_at')}, ${at('changed_at')}
                  from (${mapping}) m) x
          cross join lateral (select
            case when ${blank('x.order_line_id')} or ${blank('x.order_id')} or ${blank('x.product_id')} then 'missing_key'
                 when x.quantity is null or x.unit_price is null then 'missing_value'
                 when ${badDate('x.changed_at')} then 'unparseable_date'
                 when x.quantity < 0 then 'negative_quantity'
                 when x.unit_price < 0 then 'negative_price'
                 when x.discount < 0 or x.discount > 1 then 'invalid_discount' end as rule,
            case when ${blank('x.order_line_id')} then 'order_line_id is empty'
                 when ${blank('x.order_id')} then 'order_id is empty'
                 when ${blank('x.product_id')} then 'product_id is empty'
                 when x.quantity is null then 'quantity is empty'
                 when x.unit_price is null then 'unit_price is empty'
                 when ${badDate('x.changed_at')} then 'changed_at ' || quote_literal(x.changed_at) || ' is not a date'
                 when x.quantity < 0 then 'quantity is ' || x.quantity
                 when x.unit_price < 0 then 'unit_price is ' || x.unit_price
                 when x.discount < 0 or x.discount > 1 then 'discount is ' || x.discount end as detail) r`;
    case 'payments':
      return `
        insert into staging.canonical_payments
          (source, payment_id, order_id, amount, method, status, paid_at, changed_at, paid_at_ts, changed_at_ts, rule, detail)
        select $1, x.*, r.rule, r.detail
          from (select ${t('payment_id')}, ${t('order_id')}, ${n('amount')}, ${t('method')},
                       coalesce(${raw('status')}, 'captured') as status, ${t('paid_at')},
                       ${t('changed_at')}, ${at('paid_at')}, ${at('changed_at')}
                  from (${mapping}) m) x
          cross join lateral (select
            case when ${blank('x.payment_id')} or ${blank('x.order_id')} then 'missing_key'
                 when x.amount is null or x.paid_at is null then 'missing_value'
                 when ${badDate('x.paid_at')} or ${badDate('x.changed_at')} then 'unparseable_date'
                 when x.amount < 0 then 'negative_price' end as rule,
            case when ${blank('x.payment_id')} then 'payment_id is empty'
                 when ${blank('x.order_id')} then 'order_id is empty'
                 when x.amount is null then 'amount is empty'
                 when x.paid_at is null then 'paid_at is empty'
                 when ${badDate('x.paid_at')} then 'paid_at ' || quote_literal(x.paid_at) || ' is not a date'
                 when ${badDate('x.changed_at')} then 'changed_at ' || quote_literal(x.changed_at) || ' is not a date'
                 when x.amount < 0 then 'amount is ' || x.amount end as detail) r`;
  }
}

/** Empties a source's canonical rows before they are mapped again. */
export const clearCanonical = (entity: CanonicalEntity) =>
  `delete from ${CANONICAL_TABLES[entity]} where source = $1`;
