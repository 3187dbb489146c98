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

/** Postgres type OIDs of the date and time types: such a mapped column needs no parsing. */
const DATE_TYPES = new Set([1082 /* date */, 1114 /* timestamp */, 1184 /* timestamptz */]);

interface EntitySpec {
  table: string;
  /** Text columns, keys first; `defaults` (SQL over the mapped row `m`) fill those the mapping leaves out or null. */
  texts: string[];
  numbers: string[];
  /** Date columns: stored as mapped (`d`, text) and parsed (`d_ts`). */
  dates: string[];
  defaults: Record<string, string>;
  /** Row-level rules in order: [rule, condition, detail], over the mapped columns and `<date>_bad`. */
  rules: [QualityRule, string, string][];
}

const empty = (column: string) => `${column} is null`;
const quoted = (column: string) => `coalesce(quote_literal(${column}), 'null')`;
const badDate = (column: string): [QualityRule, string, string] => [
  'unparseable_date',
  `${column}_bad`,
  `'${column} ' || ${quoted(column)} || ' is not a date'`,
];
const missing = (rule: QualityRule, column: string): [QualityRule, string, string] => [
  rule,
  empty(column),
  `'${column} is empty'`,
];

const SPECS: Record<CanonicalEntity, EntitySpec> = {
  customers: {
    table: 'staging.canonical_customers',
    texts: [
      'customer_id',
      'email',
      'first_name',
      'last_name',
      'company_name',
      'address_line',
      'city',
      'state',
      'postal_code',
      'country',
    ],
    numbers: [],
    dates: ['signup_at', 'changed_at'],
    defaults: {},
    rules: [missing('missing_key', 'customer_id'), badDate('signup_at'), badDate('changed_at')],
  },
  products: {
    table: 'staging.canonical_products',
    texts: ['product_id', 'sku', 'name', 'category', 'brand'],
    numbers: ['price'],
    dates: ['changed_at'],
    defaults: {},
    rules: [
      missing('missing_key', 'product_id'),
      badDate('changed_at'),
      ['negative_price', 'price < 0', `'price is ' || price`],
    ],
  },
  orders: {
    table: 'staging.canonical_orders',
    texts: ['order_id', 'customer_id', 'status', 'currency'],
    numbers: [],
    dates: ['placed_at', 'changed_at'],
    defaults: { status: `'placed'` },
    rules: [
      missing('missing_key', 'order_id'),
      ['missing_value', 'placed_at is null and placed_at_ts is null', `'placed_at is empty'`],
      badDate('placed_at'),
      badDate('changed_at'),
    ],
  },
  orderLines: {
    table: 'staging.canonical_order_lines',
    texts: ['order_line_id', 'order_id', 'product_id'],
    numbers: ['quantity', 'unit_price', 'discount'],
    dates: ['changed_at'],
    defaults: { discount: '0' },
    rules: [
      missing('missing_key', 'order_line_id'),
      missing('missing_key', 'order_id'),
      missing('missing_key', 'product_id'),
      missing('missing_value', 'quantity'),
      missing('missing_value', 'unit_price'),
      badDate('changed_at'),
      ['negative_quantity', 'quantity < 0', `'quantity is ' || quantity`],
      ['negative_price', 'unit_price < 0', `'unit_price is ' || unit_price`],
      ['invalid_discount', 'discount < 0 or discount > 1', `'discount is ' || discount`],
    ],
  },
  payments: {
    table: 'staging.canonical_payments',
    texts: ['payment_id', 'order_id', 'customer_id', 'method', 'status'],
    numbers: ['amount'],
    dates: ['paid_at', 'changed_at'],
    // A negative amount is money back to the customer: a refund, unless the mapping says otherwise.
    defaults: { status: `case when m.amount::numeric < 0 then 'refunded' else 'captured' end` },
    rules: [
      missing('missing_key', 'payment_id'),
      missing('missing_key', 'order_id'),
      missing('missing_value', 'amount'),
      ['missing_value', 'paid_at is null and paid_at_ts is null', `'paid_at is empty'`],
      badDate('paid_at'),
      badDate('changed_at'),
    ],
  },
};

/**
 * The `insert … select` that maps one entity; `rule`/`detail` hold the first row-level rule broken.
 * `columns` are the mapping's columns with their type OIDs. A date the mapping returns as a date or
 * timestamp is taken as it is; one it returns as text is checked and parsed in the session's time
 * zone (the shop's). Each level is fenced (`offset 0`) so no expression is evaluated twice per row.
 */
export function canonicalInsert(
  entity: CanonicalEntity,
  mapping: string,
  columns: Map<string, number>,
  /** A key-scoped transform maps only the rows this condition (over the mapped texts) holds for. */
  where?: string,
): string {
  const spec = SPECS[entity];
  const has = (c: string) => columns.has(c);
  const withDefault = (c: string, expression: string) =>
    spec.defaults[c] ? `coalesce(${expression}, ${spec.defaults[c]})` : expression;
  // Level 1: the mapped values, typed; dates as text unless the mapping returns them typed.
  const level1 = [
    ...spec.texts.map((c) => {
      const value = has(c) ? `nullif(btrim(m.${c}::text), '')` : 'null::text';
      return `${withDefault(c, value)} as ${c}`;
    }),
    ...spec.numbers.map((c) => `${withDefault(c, has(c) ? `m.${c}::numeric` : 'null::numeric')} as ${c}`),
    ...spec.dates.flatMap((c) =>
      has(c) && DATE_TYPES.has(columns.get(c)!)
        ? [`null::text as ${c}`, `m.${c}::timestamptz as ${c}_typed`]
        : [`${has(c) ? `m.${c}::text` : 'null::text'} as ${c}`, `null::timestamptz as ${c}_typed`],
    ),
  ];
  // Level 2: each text date checked once.
  const level2 = [
    ...spec.texts,
    ...spec.numbers,
    ...spec.dates.flatMap((c) => [
      c,
      `${c}_typed`,
      `${c} is null or ops.input_is_valid(${c}, 'timestamptz') as ${c}_ok`,
    ]),
  ];
  // Level 3: parsed dates, and the first rule broken.
  const level3 = [
    ...spec.texts,
    ...spec.numbers,
    ...spec.dates.flatMap((c) => [
      c,
      `coalesce(${c}_typed, case when ${c}_ok then ${c}::timestamptz end) as ${c}_ts`,
      `not ${c}_ok as ${c}_bad`,
    ]),
  ];
  const rule = `case ${spec.rules.map(([name, condition]) => `when ${condition} then '${name}'`).join(' ')} end`;
  const detail = `case ${spec.rules.map(([, condition, text]) => `when ${condition} then ${text}`).join(' ')} end`;
  const stored = [...spec.texts, ...spec.numbers, ...spec.dates.flatMap((c) => [c, `${c}_ts`])];
  return `
    insert into ${spec.table} (source, ${stored.join(', ')}, rule, detail)
    select $1, ${stored.join(', ')}, rule, case when rule is not null then ${detail} end
      from (select *, ${rule} as rule
              from (select ${level3.join(', ')}
                      from (select ${level2.join(', ')}
                              from (select ${level1.join(', ')} from (${mapping}) m offset 0) l1
                             ${where ? `where ${where}` : ''}
                            offset 0) l2
                    offset 0) l3
            offset 0) l4`;
}

/** Empties a source's canonical rows before they are mapped again. */
export const clearCanonical = (entity: CanonicalEntity) =>
  `delete from ${CANONICAL_TABLES[entity]} where source = $1`;

/** Each entity's natural key column. */
export const ENTITY_KEYS: Record<CanonicalEntity, string> = {
  customers: 'customer_id',
  products: 'product_id',
  orders: 'order_id',
  orderLines: 'order_line_id',
  payments: 'payment_id',
};

/**
 * A key-scoped transform's scope: per entity, the natural keys whose canonical rows it maps again (a
 * temporary table of the transaction). Rows without a key are always mapped again (they are few: each
 * is quarantined as `missing_key`).
 */
export const SCOPE_TABLES: Record<CanonicalEntity, string> = {
  customers: 'pg_temp.cartflow_scope_customers',
  products: 'pg_temp.cartflow_scope_products',
  orders: 'pg_temp.cartflow_scope_orders',
  orderLines: 'pg_temp.cartflow_scope_order_lines',
  payments: 'pg_temp.cartflow_scope_payments',
};

/**
 * `and <column> is in the entity's scope` when scoped, else nothing: a semi-join, which the planner
 * turns into index lookups on the key. Rows without a key are not in it: they are quarantined as
 * `missing_key` as they are mapped (so no later rule looks at them), and the statements that must see
 * them (the quarantine and its counts) add them themselves.
 */
export const inScope = (entity: CanonicalEntity, scoped: boolean, column = ENTITY_KEYS[entity]) =>
  scoped ? ` and ${column} in (select k from ${SCOPE_TABLES[entity]})` : '';
