/**
 * What a source is: a database connection, the tables to take from it, and a mapping of SQL selects
 * that turns those tables into cartflow's canonical entities. Pure types and validation; the demo
 * shop's definition is in `demo-shop.ts`, registered ones live in `ops.sources`.
 */

/** Where a source's tables are read from. */
export type SourceConnection =
  /** Any Postgres database the workers can reach. */
  | { kind: 'postgres'; url: string; schema?: string }
  /** The platform's own demo shop database (CARTFLOW_SHOP_URL, or the embedded one). */
  | { kind: 'demo-shop'; schema?: string }
  /** A MySQL or MariaDB database, `mysql://user:pass@host:3306/shop`; `schema` names another database there. */
  | { kind: 'mysql'; url: string; schema?: string }
  /**
   * Files staged by `cartflow import` (docs/imports.md) into `staging_<name>`: a run has nothing to
   * extract and maps the staged tables like any source's. `importer` says which import wrote them.
   */
  | { kind: 'files'; importer?: string; schema?: never };

export interface SourceTable {
  /** The table's name in the source schema. */
  name: string;
  /** Its primary key column(s); staging upserts by it and full loads split on its first column. */
  primaryKey: string[];
  /**
   * A column that grows whenever a row changes (e.g. `updated_at`, maintained by a trigger), for
   * incremental loads: each run takes the rows with (cursor, primary key) past the last checkpoint.
   * Without one, the whole table is taken again on every run (right for small tables, and it sees
   * deleted rows).
   */
  cursor?: string;
  /** The columns to take; all of them when absent (new source columns are then added automatically). */
  columns?: string[];
}

/**
 * One SQL `select` per canonical entity, written against the source's own table names. It runs in the
 * warehouse over the staged copies (and, for reconciliation, against the source itself), so write it
 * in Postgres SQL with unqualified table names. Columns are matched by name; see CANONICAL_ENTITIES.
 */
export interface SourceMapping {
  customers: string;
  products: string;
  orders: string;
  orderLines: string;
  /** Optional: a source without payments maps none. */
  payments?: string;
}

export interface SourceDefinition {
  /** Lowercase letters, digits and underscores; the staging schema is `staging_<name>`. */
  name: string;
  description?: string;
  /** A registered source with `enabled: false` is skipped by runs (default: enabled). */
  enabled?: boolean;
  connection: SourceConnection;
  /** `binary` (fast, same types on both sides; the default) or `text` COPY. */
  copyFormat?: 'binary' | 'text';
  tables: SourceTable[];
  mapping: SourceMapping;
  /**
   * What order lines that repeat another line of the same order exactly (same product, quantity,
   * unit price and discount, under another line id) mean: `quarantine` (a double-submitted checkout;
   * the lowest id stays — the default), `keep` (separate lines, e.g. one row per unit) or `sum` (one
   * line, the lowest id, with the quantities added).
   */
  duplicates?: DuplicateLines;
  /**
   * Reconciliation warns, and `cartflow run daily` exits with status 3, when the quarantined share of
   * this source's order lines or revenue is above this fraction (0 to 1). Default: the platform's
   * CARTFLOW_QUARANTINE_THRESHOLD (1%).
   */
  quarantineThreshold?: number;
}

export const DUPLICATE_LINES = ['quarantine', 'keep', 'sum'] as const;
export type DuplicateLines = (typeof DUPLICATE_LINES)[number];

export type CanonicalEntity = 'customers' | 'products' | 'orders' | 'orderLines' | 'payments';

export interface CanonicalColumn {
  name: string;
  required: boolean;
  meaning: string;
}

/**
 * The canonical entities: the columns a mapping returns for each. Required columns must be in the
 * select; optional ones may be left out (null, or the default named). Keys are compared as text, so a
 * mapping may return them as any type. Dates may be timestamps, dates or text: an unparseable one is
 * quarantined, not a crash.
 */
export const CANONICAL_ENTITIES: Record<CanonicalEntity, readonly CanonicalColumn[]> = {
  customers: [
    { name: 'customer_id', required: true, meaning: 'the natural key' },
    { name: 'email', required: false, meaning: 'e-mail address' },
    { name: 'first_name', required: false, meaning: 'given name' },
    { name: 'last_name', required: false, meaning: 'family name' },
    { name: 'company_name', required: false, meaning: 'for business customers' },
    { name: 'address_line', required: false, meaning: 'street address (SCD type 2)' },
    { name: 'city', required: false, meaning: '(SCD type 2)' },
    { name: 'state', required: false, meaning: 'state or region (SCD type 2)' },
    { name: 'postal_code', required: false, meaning: '(SCD type 2)' },
    { name: 'country', required: false, meaning: '(SCD type 2)' },
    { name: 'signup_at', required: false, meaning: 'when the customer signed up' },
    { name: 'changed_at', required: false, meaning: 'when the row last changed: a new version starts then' },
  ],
  products: [
    { name: 'product_id', required: true, meaning: 'the natural key' },
    { name: 'sku', required: false, meaning: 'stock keeping unit' },
    { name: 'name', required: false, meaning: 'product name' },
    { name: 'category', required: false, meaning: '(SCD type 2)' },
    { name: 'brand', required: false, meaning: 'brand' },
    { name: 'price', required: false, meaning: 'list price (SCD type 2)' },
    { name: 'changed_at', required: false, meaning: 'when the row last changed: a new version starts then' },
  ],
  orders: [
    { name: 'order_id', required: true, meaning: 'the natural key' },
    {
      name: 'customer_id',
      required: false,
      meaning: 'the customer; null for a guest (the unknown customer)',
    },
    {
      name: 'status',
      required: false,
      meaning: "placed, paid, shipped, cancelled or returned (default 'placed')",
    },
    { name: 'placed_at', required: true, meaning: 'when the order was placed: the facts’ date' },
    { name: 'currency', required: false, meaning: 'ISO 4217 code' },
    { name: 'changed_at', required: false, meaning: 'when the row last changed' },
  ],
  orderLines: [
    {
      name: 'order_line_id',
      required: true,
      meaning: "the natural key (e.g. order_id || '-' || product_id)",
    },
    { name: 'order_id', required: true, meaning: 'the order' },
    { name: 'product_id', required: true, meaning: 'the product' },
    { name: 'quantity', required: true, meaning: 'units' },
    { name: 'unit_price', required: true, meaning: 'price of one unit before discount' },
    { name: 'discount', required: false, meaning: 'fraction off, 0 to 1 (default 0)' },
    { name: 'changed_at', required: false, meaning: 'when the row last changed' },
  ],
  payments: [
    { name: 'payment_id', required: true, meaning: 'the natural key' },
    { name: 'order_id', required: true, meaning: 'the order paid' },
    {
      name: 'customer_id',
      required: false,
      meaning: "who paid, when not the order's customer (null: the order's customer)",
    },
    { name: 'amount', required: true, meaning: 'amount; negative for a refund (money back)' },
    { name: 'method', required: false, meaning: 'card, paypal, …' },
    {
      name: 'status',
      required: false,
      meaning: "captured, refunded or failed (default 'captured', 'refunded' for a negative amount)",
    },
    { name: 'paid_at', required: true, meaning: 'when it was paid: the fact’s date' },
    { name: 'changed_at', required: false, meaning: 'when the row last changed' },
  ],
};

const NAME = /^[a-z][a-z0-9_]{0,29}$/;
/** Source identifiers cartflow accepts: plain names, quoted when used. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$ ]{0,62}$/;

export class InvalidSourceDefinition extends Error {
  constructor(readonly problems: string[]) {
    super(`The source definition is not valid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidSourceDefinition';
  }
}

/**
 * Checks a definition read from a file or from `ops.sources`; returns it typed, or throws naming every
 * problem. It checks shape and names only: that the tables and columns exist is checked against the
 * source by the first run (and by `cartflow source add`).
 */
export function validateSourceDefinition(value: unknown): SourceDefinition {
  const problems: string[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(value)) throw new InvalidSourceDefinition(['a source definition must be an object']);
  const d = value;

  if (typeof d.name !== 'string' || !NAME.test(d.name))
    problems.push(
      `name must be lowercase letters, digits and underscores, starting with a letter (at most 30), not ${JSON.stringify(d.name)}`,
    );
  if (d.description !== undefined && typeof d.description !== 'string')
    problems.push('description must be text');
  if (d.enabled !== undefined && typeof d.enabled !== 'boolean')
    problems.push('enabled must be true or false');
  if (d.copyFormat !== undefined && d.copyFormat !== 'binary' && d.copyFormat !== 'text')
    problems.push(`copyFormat must be "binary" or "text", not ${JSON.stringify(d.copyFormat)}`);
  if (d.duplicates !== undefined && !(DUPLICATE_LINES as readonly unknown[]).includes(d.duplicates))
    problems.push(
      `duplicates must be "quarantine", "keep" or "sum" (what repeated identical order lines mean), not ${JSON.stringify(d.duplicates)}`,
    );
  if (
    d.quarantineThreshold !== undefined &&
    (typeof d.quarantineThreshold !== 'number' || !(d.quarantineThreshold >= 0 && d.quarantineThreshold <= 1))
  )
    problems.push(
      `quarantineThreshold must be a fraction from 0 to 1 (0.01 is 1%), not ${JSON.stringify(d.quarantineThreshold)}`,
    );

  const connection = d.connection;
  if (!isObject(connection))
    problems.push('connection must be an object: {"kind": "postgres", "url": "postgres://…"}');
  else if (connection.kind === 'postgres') {
    if (typeof connection.url !== 'string' || !/^postgres(ql)?:\/\//.test(connection.url))
      problems.push('connection.url must be a postgres:// URL');
  } else if (connection.kind === 'mysql') {
    if (typeof connection.url !== 'string' || !/^mysql:\/\//.test(connection.url))
      problems.push('connection.url must be a mysql:// URL, e.g. mysql://user:pass@host:3306/shop');
  } else if (connection.kind === 'files') {
    if (connection.importer !== undefined && typeof connection.importer !== 'string')
      problems.push('connection.importer must be text');
    if (connection.schema !== undefined)
      problems.push('a files source has no connection.schema: its tables are in staging_<name>');
  } else if (connection.kind !== 'demo-shop') {
    problems.push(
      `connection.kind must be "postgres", "mysql", "files" or "demo-shop", not ${JSON.stringify(connection.kind)}`,
    );
  }
  if (isObject(connection) && connection.schema !== undefined)
    if (typeof connection.schema !== 'string' || !IDENTIFIER.test(connection.schema))
      problems.push(`connection.schema must be a schema name, not ${JSON.stringify(connection.schema)}`);

  const tableNames = new Set<string>();
  if (!Array.isArray(d.tables) || d.tables.length === 0) problems.push('tables must list at least one table');
  else
    d.tables.forEach((table: unknown, i) => {
      const at = `tables[${i}]`;
      if (!isObject(table)) return problems.push(`${at} must be an object`);
      if (typeof table.name !== 'string' || !IDENTIFIER.test(table.name))
        return problems.push(`${at}.name must be a table name, not ${JSON.stringify(table.name)}`);
      const here = `table ${table.name}`;
      if (tableNames.has(table.name)) problems.push(`${here} is listed twice`);
      tableNames.add(table.name);
      const columnList = (v: unknown) =>
        Array.isArray(v) && v.length > 0 && v.every((c) => typeof c === 'string' && IDENTIFIER.test(c));
      if (!columnList(table.primaryKey))
        problems.push(`${here}: primaryKey must list its primary key column(s), e.g. ["order_id"]`);
      if (table.cursor !== undefined && (typeof table.cursor !== 'string' || !IDENTIFIER.test(table.cursor)))
        problems.push(`${here}: cursor must be a column name, e.g. "updated_at"`);
      if (table.columns !== undefined) {
        if (!columnList(table.columns)) problems.push(`${here}: columns must list column names`);
        else {
          const listed = new Set(table.columns as string[]);
          for (const needed of [
            ...((table.primaryKey as string[]) ?? []),
            ...(table.cursor ? [table.cursor] : []),
          ])
            if (typeof needed === 'string' && !listed.has(needed))
              problems.push(`${here}: columns must include the key and cursor column ${needed}`);
        }
      }
    });

  const mapping = d.mapping;
  if (!isObject(mapping)) problems.push('mapping must be an object with a select for each canonical entity');
  else {
    for (const entity of Object.keys(CANONICAL_ENTITIES) as CanonicalEntity[]) {
      const sql = mapping[entity];
      if (sql === undefined && entity === 'payments') continue;
      if (typeof sql !== 'string' || !/^\s*(\(|with\b|select\b)/i.test(sql))
        problems.push(`mapping.${entity} must be an SQL select`);
      else if (/;\s*\S/.test(sql.replace(/;\s*$/, '')))
        problems.push(`mapping.${entity} must be one statement`);
    }
    for (const key of Object.keys(mapping))
      if (!(key in CANONICAL_ENTITIES))
        problems.push(
          `mapping.${key} is not a canonical entity (${Object.keys(CANONICAL_ENTITIES).join(', ')})`,
        );
  }

  if (problems.length > 0) throw new InvalidSourceDefinition(problems);
  const definition = value as unknown as SourceDefinition;
  // A trailing semicolon is harmless to a reader but breaks the select when it is used as a subquery.
  const mappingOut = Object.fromEntries(
    Object.entries(definition.mapping).map(([k, v]) => [k, (v as string).trim().replace(/;+$/, '')]),
  ) as unknown as SourceMapping;
  return { ...definition, mapping: mappingOut };
}

/** The warehouse schema that holds a source's staged tables. */
export function stagingSchema(sourceName: string): string {
  return `staging_${sourceName}`;
}

/** The definition without the connection's password, for logs, the CLI and run summaries. */
export function describeConnection(connection: SourceConnection): string {
  if (connection.kind === 'demo-shop') return 'the demo shop database';
  if (connection.kind === 'files')
    return `files imported with cartflow import${connection.importer ? ` ${connection.importer}` : ''}`;
  try {
    const url = new URL(connection.url);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}
