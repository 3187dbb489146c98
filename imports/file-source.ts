import type pg from 'pg';
import { validateSourceDefinition, type DuplicateLines } from '../sources/definition';

/**
 * A file source as the daily pipeline reads it: a source definition (sources/definition.ts)
 * whose connection is `{ kind: 'files' }`. Its tables are staged by `cartflow import`, not extracted
 * by a run, so a run maps them straight into the canonical entities (extract/source-kinds.ts).
 */
export interface FileSourceDefinition {
  name: string;
  description: string;
  connection: { kind: 'files'; importer: string };
  tables: { name: string; primaryKey: string[] }[];
  mapping: {
    customers: string;
    products: string;
    orders: string;
    orderLines: string;
    payments?: string;
  };
  /** What repeated identical order lines mean (docs/pipeline.md); unset keeps what the source says. */
  duplicates?: DuplicateLines;
}

/** The staged table of `cartflow import payments`, and its mapping onto canonical payments. */
export const PAYMENTS_TABLE = 'payments';
export const PAYMENTS_MAPPING =
  'select payment_id, order_id, customer_id, amount, paid_at, method, status from payments';

/**
 * Registers (or updates) a file source in `ops.sources`, in the import's transaction. A definition
 * that is already there unchanged is left alone, so a re-import changes nothing. What other imports
 * of the source added stays: its payments (`cartflow import payments`) and its `duplicates`, unless
 * this import says otherwise.
 */
export async function registerFileSource(client: pg.ClientBase, given: FileSourceDefinition): Promise<void> {
  const { rows } = await client.query<{ definition: FileSourceDefinition }>(
    `select definition from ops.sources where name = $1`,
    [given.name],
  );
  const before = rows[0]?.definition;
  const definition: FileSourceDefinition = { ...given };
  const duplicates = given.duplicates ?? before?.duplicates;
  if (duplicates === undefined) delete definition.duplicates;
  else definition.duplicates = duplicates;
  if (before?.mapping.payments === PAYMENTS_MAPPING && !given.mapping.payments) {
    definition.tables = [
      ...given.tables.filter((t) => t.name !== PAYMENTS_TABLE),
      { name: PAYMENTS_TABLE, primaryKey: ['payment_id'] },
    ];
    definition.mapping = { ...given.mapping, payments: PAYMENTS_MAPPING };
  }
  // The pipeline's own check: a definition it would refuse to run is never registered.
  validateSourceDefinition(definition);
  await client.query(
    `insert into ops.sources as s (name, definition) values ($1, $2)
     on conflict (name) do update set definition = excluded.definition, updated_at = now()
      where s.definition is distinct from excluded.definition`,
    [definition.name, JSON.stringify(definition)],
  );
}

/** Collapses the whitespace of a mapping select, so the stored definition reads on one line per entity. */
export const sqlText = (sql: string): string => sql.replace(/\s+/g, ' ').trim();
