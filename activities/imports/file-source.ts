import type pg from 'pg';
import { validateSourceDefinition } from '../sources/definition';

/**
 * A file source as the daily pipeline reads it: a source definition (activities/sources/definition.ts)
 * whose connection is `{ kind: 'files' }`. Its tables are staged by `cartflow import`, not extracted
 * by a run, so a run maps them straight into the canonical entities (activities/extract/source-kinds.ts).
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
}

/**
 * Registers (or updates) a file source in `ops.sources`, in the import's transaction. A definition
 * that is already there unchanged is left alone, so a re-import changes nothing.
 */
export async function registerFileSource(
  client: pg.ClientBase,
  definition: FileSourceDefinition,
): Promise<void> {
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
