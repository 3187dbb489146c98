/**
 * Mapping a source's staged tables into cartflow's canonical entities (`staging.canonical_*`), with
 * the row-level quality rules evaluated on the way in. The mapping select runs as a subquery `m`;
 * columns it does not return are null (or their default). Every statement takes $1 = source name.
 */
import type { CanonicalEntity } from '../../sources/definition';

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

/**
 * A key-scoped transform's canonical rows: the scope's rows are taken out of the canonical tables and
 * mapped into these temporary tables (same columns), where the quality rules, the dimensions and the
 * facts read them without scanning the source's other rows; they go back into the canonical tables
 * at the end of the transaction.
 */
export const SCOPED_CANONICAL: Record<CanonicalEntity, string> = {
  customers: 'pg_temp.cartflow_canonical_customers',
  products: 'pg_temp.cartflow_canonical_products',
  orders: 'pg_temp.cartflow_canonical_orders',
  orderLines: 'pg_temp.cartflow_canonical_order_lines',
  payments: 'pg_temp.cartflow_canonical_payments',
};

/** The canonical rows a statement works on: scoped, the scope's (SCOPED_CANONICAL). */
export const canonicalOf = (entity: CanonicalEntity, scoped: boolean) =>
  scoped ? SCOPED_CANONICAL[entity] : CANONICAL_TABLES[entity];

/**
 * Every canonical row of an entity, scoped or not: scoped, a temporary view of the rows left in the
 * canonical table and the scope's. For the rules that look a key up outside the scope (a line's product).
 */
export const allCanonicalOf = (entity: CanonicalEntity, scoped: boolean) =>
  scoped
    ? SCOPED_CANONICAL[entity].replace('cartflow_canonical_', 'cartflow_all_')
    : CANONICAL_TABLES[entity];

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
  /**
   * A key-scoped transform maps only the rows `exact` (over the mapped texts, `l1`) holds for.
   * `prefilter`, over the mapping's own columns (`m`), holds for at least those rows; it has no
   * subquery and is applied before any column is computed, unfenced, so the planner pushes it down to
   * the staged tables' scans (an index scan of a staged key).
   */
  where?: { exact: string; prefilter: string },
  /** The table written: the entity's canonical table unless given (SCOPED_CANONICAL). */
  into = SPECS[entity].table,
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
    insert into ${into} (source, ${stored.join(', ')}, rule, detail)
    select $1, ${stored.join(', ')}, rule, case when rule is not null then ${detail} end
      from (select *, ${rule} as rule
              from (select ${level3.join(', ')}
                      from (select ${level2.join(', ')}
                              from (select ${level1.join(', ')}
                                      from ${where ? `(select * from (${mapping}) m where ${where.prefilter}) m` : `(${mapping}) m`}
                                    offset 0) l1
                             ${where ? `where ${where.exact}` : ''}
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

/** Postgres type OIDs of int2, int4 and int8, and of text and varchar. */
const INTEGER_TYPES = new Set([20, 21, 23]);
const TEXT_TYPES = new Set([25, 1043]);

/**
 * `column` (of Postgres type `type`, undefined when the mapping does not return it) is one of `keys`,
 * canonical texts (trimmed, as canonicalInsert makes them): an integer column compared as an integer,
 * a text column trimmed, any other as its text. No subquery, so the planner pushes it down to the scan
 * of a table (and its index). The keys are pushed onto `params` as one array parameter, numbered by its
 * place there. True for every row whose canonical value is one of the keys, and only for them.
 */
export function keyIn(column: string, type: number | undefined, keys: string[], params: unknown[]): string {
  if (type === undefined) return 'false';
  if (INTEGER_TYPES.has(type)) {
    // An integer's canonical text has no sign but a minus and no leading zero: others match no row.
    params.push(keys.filter((k) => /^(0|-?[1-9]\d{0,17})$/.test(k)));
    return `${column} = any($${params.length}::bigint[])`;
  }
  params.push(keys);
  return `${TEXT_TYPES.has(type) ? `btrim(${column})` : `btrim(${column}::text)`} = any($${params.length}::text[])`;
}

/** `column` (typed as for keyIn) has no canonical value: null or blank. */
export function keyMissing(column: string, type: number | undefined): string {
  if (type === undefined) return 'true';
  if (INTEGER_TYPES.has(type)) return `${column} is null`;
  return `nullif(${TEXT_TYPES.has(type) ? `btrim(${column})` : `btrim(${column}::text)`}, '') is null`;
}
