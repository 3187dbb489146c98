/**
 * Reconciliation of sources whose mapping cannot run at the source — MySQL (its mapping is Postgres
 * SQL over the staged copies) and files (`cartflow import` staged the tables; nothing is extracted) —
 * against their staged copies: a MySQL table's row count at the source against its staged copy, then
 * (for both) the mapping's order lines and revenue per day over the staged tables against the facts
 * plus quarantined lines. Postgres sources go to the reconcile activity as they are. (Extract-load
 * itself is one engine for every kind: extract-load.ts.)
 */
import type pg from 'pg';
import type { ReconciliationSummary } from '../contracts/pipeline-summary';
import { failure, permanent } from '../lib/pipeline-errors';
import { stagingSchema, type SourceDefinition } from '../sources/definition';
import { findSource } from '../sources/registry';
import { COMPARE_DAILY_TOTALS, sourceDailyTotals } from '../activities/sql/reconcile';
import { mappingColumns } from '../activities/transform/transform';
import type { createReconcileActivities } from '../activities/transform/reconcile';
import type { createExtractLoadActivities } from './extract-load';
import { currentView } from './catalog';
import { ident, qualified } from '../lib/identifiers';

type ExtractLoad = ReturnType<typeof createExtractLoadActivities>;
type Reconcile = ReturnType<typeof createReconcileActivities>;

export interface SourceKindDeps {
  warehouse: pg.Pool;
  timezone: string;
  /** The extract engine, for the source's row counts and whether it moved since the extract. */
  extract: Pick<ExtractLoad, 'countSourceRows' | 'sourceMoved'>;
}

interface ComparedRow {
  day: string | null;
  source_lines: number;
  source_amount: string;
  warehouse_lines: number;
  warehouse_amount: string;
  quarantined_lines: number;
  quarantined_amount: string;
  days: number;
}

/** Wraps the reconcile activity so that MySQL and file sources take their own way. */
export function routeSourceKinds(base: Reconcile, deps: SourceKindDeps): Reconcile {
  const { warehouse, timezone, extract } = deps;
  const sourceOf = (name: string) =>
    findSource(warehouse, name).catch((error) =>
      failure(error, `Reading source ${name}`, { type: 'InvalidSourceDefinition' }),
    );

  /** MySQL: every table's rows at the source now against its staged copy; tables that differ. */
  async function stagedCounts(
    source: SourceDefinition,
  ): Promise<{ table: string; source: number; staged: number }[]> {
    const atSource = await extract.countSourceRows(source);
    const out = [];
    for (const table of source.tables) {
      // The current copy: the table overlaid with its changes since the last full load.
      const { rows } = await warehouse.query<{ n: number }>(
        `select count(*)::int as n from ${qualified(stagingSchema(source.name), currentView(table.name))}`,
      );
      out.push({ table: table.name, source: atSource[table.name], staged: rows[0].n });
    }
    return out;
  }

  /** The mapping's daily totals over the staged tables against facts plus quarantined lines. */
  async function compareStaged(source: SourceDefinition): Promise<ComparedRow[]> {
    const client = await warehouse.connect();
    try {
      // Written to nothing but this transaction's temporary views, and rolled back.
      await client.query('begin');
      const schema = stagingSchema(source.name);
      // Each table under its own name as the transform reads it: its current copy (the staged table
      // overlaid with the changes incremental loads appended) where there is one.
      for (const table of source.tables) {
        const { rows } = await client.query<{ relation: string | null }>(
          `select coalesce(to_regclass($1), to_regclass($2))::text as relation`,
          [qualified(schema, currentView(table.name)), qualified(schema, table.name)],
        );
        if (rows[0].relation)
          await client.query(
            `create temporary view ${ident(table.name)} as select * from ${rows[0].relation}`,
          );
      }
      await client.query(
        `select set_config('timezone', $1, true), set_config('search_path', 'pg_temp', true)`,
        [timezone],
      );
      const present = await mappingColumns(client, source, 'orderLines', 'warehouse');
      await mappingColumns(client, source, 'orders', 'warehouse');
      const totals = (
        await client.query(sourceDailyTotals(source.mapping, new Set(present.keys()), 'warehouse'))
      ).rows;
      await client.query(`select set_config('search_path', 'public', true)`);
      const { rows } = await client.query<ComparedRow>(COMPARE_DAILY_TOTALS, [
        source.name,
        JSON.stringify(totals),
      ]);
      await client.query('rollback');
      return rows;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      failure(error, `Reconciling source ${source.name} in the warehouse`);
    } finally {
      client.release();
    }
  }

  return {
    async reconcileSource(input): Promise<ReconciliationSummary> {
      const source = await sourceOf(input.source);
      const kind = source.connection.kind;
      if (kind !== 'mysql' && kind !== 'files') return base.reconcileSource(input);

      if (kind === 'mysql') {
        const counts = await stagedCounts(source);
        const differ = counts.filter((c) => c.source !== c.staged);
        if (differ.length > 0) {
          // Rows added or changed after the extract explain a difference; the next run checks again.
          if (!(await extract.sourceMoved(source)))
            throw permanent(
              'ReconciliationMismatch',
              `Reconciliation of source ${source.name} failed: ${differ
                .map((d) => `table ${d.table} has ${d.source} rows at the source and ${d.staged} staged`)
                .join(
                  '; ',
                )}. Rows deleted at the source stay staged until "cartflow source reset ${source.name}".`,
              { source: source.name, tables: differ },
            );
        }
      }
      const rows = await compareStaged(source);
      const totals = rows.find((r) => r.day === null)!;
      const differences = rows.filter((r) => r.day !== null);
      const summary: ReconciliationSummary = {
        source: source.name,
        days: totals.days,
        mismatchedDays: differences.length > 0 ? differences[0].days : 0,
        unsettled: false,
        source_lines: totals.source_lines,
        source_amount: totals.source_amount,
        warehouse_lines: totals.warehouse_lines,
        warehouse_amount: totals.warehouse_amount,
        quarantined_lines: totals.quarantined_lines,
        quarantined_amount: totals.quarantined_amount,
        differences: differences.slice(0, 10).map((d) => ({
          day: d.day!,
          source_lines: d.source_lines,
          source_amount: d.source_amount,
          warehouse_lines: d.warehouse_lines,
          warehouse_amount: d.warehouse_amount,
        })),
      };
      if (differences.length > 0)
        throw permanent(
          'ReconciliationMismatch',
          `Reconciliation of source ${source.name} failed: ${summary.mismatchedDays} of ${summary.days} days differ between its staged tables and the warehouse. ` +
            summary.differences
              .map(
                (d) =>
                  `${d.day}: staged ${d.source_lines} lines / ${d.source_amount}, warehouse ${d.warehouse_lines} / ${d.warehouse_amount}`,
              )
              .join('; '),
          summary as unknown as Record<string, unknown>,
        );
      return summary;
    },
  };
}
