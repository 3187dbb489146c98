/**
 * The staged copy of a source whose mapping cannot run at the source, checked against the source
 * before reconciliation (transform/reconcile.ts) compares the mapping's order lines over
 * the staged tables with the warehouse: a MySQL table's row count at the source against its staged
 * copy. Files have nothing to check (`cartflow import` staged them; nothing is extracted); Postgres
 * sources are reconciled through their mapping at the source. (Extract-load itself is one engine for
 * every kind: extract-load.ts.)
 */
import type pg from 'pg';
import { permanent } from '../lib/pipeline-errors';
import { stagingSchema, type SourceDefinition } from '../sources/definition';
import type { createExtractLoadActivities } from './extract-load';
import { currentView } from './catalog';
import { qualified } from '../lib/identifiers';

type ExtractLoad = ReturnType<typeof createExtractLoadActivities>;

export interface StagedCopyDeps {
  warehouse: pg.Pool;
  /** The extract engine, for the source's row counts and whether it moved since the extract. */
  extract: Pick<ExtractLoad, 'countSourceRows' | 'sourceMoved'>;
}

/**
 * MySQL: every table's rows at the source now against its staged copy (the current copy: the table
 * overlaid with its changes since the last full load). A difference fails reconciliation, unless rows
 * were added or changed at the source after the extract (the next run checks again).
 */
export function stagedCopyCheck({ warehouse, extract }: StagedCopyDeps) {
  return async (source: SourceDefinition): Promise<void> => {
    if (source.connection.kind !== 'mysql') return;
    const atSource = await extract.countSourceRows(source);
    const differ: { table: string; source: number; staged: number }[] = [];
    for (const table of source.tables) {
      const { rows } = await warehouse.query<{ n: number }>(
        `select count(*)::int as n from ${qualified(stagingSchema(source.name), currentView(table.name))}`,
      );
      if (atSource[table.name] !== rows[0].n)
        differ.push({ table: table.name, source: atSource[table.name], staged: rows[0].n });
    }
    if (differ.length > 0 && !(await extract.sourceMoved(source)))
      throw permanent(
        'ReconciliationMismatch',
        `Reconciliation of source ${source.name} failed: ${differ
          .map((d) => `table ${d.table} has ${d.source} rows at the source and ${d.staged} staged`)
          .join('; ')}. Rows deleted at the source stay staged until "cartflow source reset ${source.name}".`,
        { source: source.name, tables: differ },
      );
  };
}
