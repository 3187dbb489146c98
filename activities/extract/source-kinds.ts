/**
 * Sources that are not Postgres databases, in the daily pipeline: each extract-load and reconcile
 * activity looks at the source's connection kind and, for
 * - `mysql`: extract-loads through activities/extract/mysql.ts (same staging, checkpoints, chunks);
 * - `files`: extracts nothing — `cartflow import` staged the tables already (activities/imports);
 * and reconciles both against their staged copies: a MySQL table's row count at the source against
 * its staged copy, then (for both) the mapping's order lines and revenue per day over the staged
 * tables against the facts plus quarantined lines. Postgres sources go to the activities as they are.
 */
import type pg from 'pg';
import type { ReconciliationSummary } from '../../lib/pipeline-summary';
import { failure, permanent } from '../pipeline-errors';
import { stagingSchema, type SourceDefinition } from '../sources/definition';
import { findSource } from '../sources/registry';
import { COMPARE_DAILY_TOTALS, sourceDailyTotals } from '../sql/reconcile';
import { mappingColumns } from '../transform/transform';
import type { createReconcileActivities } from '../transform/reconcile';
import type { createExtractLoadActivities } from './extract-load';
import { ident, qualified } from './identifiers';
import { createMysqlExtract, MysqlPools, type MysqlSource } from './mysql';

type ExtractLoad = ReturnType<typeof createExtractLoadActivities>;
type Reconcile = ReturnType<typeof createReconcileActivities>;
type Routed = Pick<ExtractLoad, 'planExtract' | 'loadChunk' | 'loadIncremental'> & Reconcile;

export interface SourceKindDeps {
  warehouse: pg.Pool;
  timezone: string;
  mysqlPools?: MysqlPools;
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

const asMysql = (source: SourceDefinition): MysqlSource => source as unknown as MysqlSource;

/** Wraps the Postgres extract-load and reconcile activities so that MySQL and file sources take their own way. */
export function routeSourceKinds(base: Routed, deps: SourceKindDeps): Routed {
  const { warehouse, timezone } = deps;
  const mysql = createMysqlExtract({ warehouse, pools: deps.mysqlPools ?? new MysqlPools() });
  const sourceOf = (name: string) =>
    findSource(warehouse, name).catch((error) =>
      failure(error, `Reading source ${name}`, { type: 'InvalidSourceDefinition' }),
    );

  /** MySQL: every table's rows at the source now against its staged copy; tables that differ. */
  async function stagedCounts(
    source: SourceDefinition,
  ): Promise<{ table: string; source: number; staged: number }[]> {
    const atSource = await mysql
      .countRows(asMysql(source))
      .catch((error) => failure(error, `Counting the rows of source ${source.name}`, { side: 'source' }));
    const out = [];
    for (const table of source.tables) {
      const { rows } = await warehouse.query<{ n: number }>(
        `select count(*)::int as n from ${qualified(stagingSchema(source.name), table.name)}`,
      );
      out.push({ table: table.name, source: atSource[table.name], staged: rows[0].n });
    }
    return out;
  }

  /** The mapping's daily totals over the staged tables against facts plus quarantined lines. */
  async function compareStaged(source: SourceDefinition): Promise<ComparedRow[]> {
    const client = await warehouse.connect();
    try {
      await client.query('begin read only');
      await client.query(`select set_config('timezone', $1, true), set_config('search_path', $2, true)`, [
        timezone,
        ident(stagingSchema(source.name)),
      ]);
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
      await client.query('commit');
      return rows;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      failure(error, `Reconciling source ${source.name} in the warehouse`);
    } finally {
      client.release();
    }
  }

  return {
    async planExtract(input) {
      const source = await sourceOf(input.source);
      if (source.connection.kind === 'files') return [];
      if (source.connection.kind === 'mysql') return mysql.planExtract(asMysql(source), input.sizes);
      return base.planExtract(input);
    },

    async loadChunk(input) {
      const source = await sourceOf(input.source);
      if (source.connection.kind === 'mysql') return mysql.loadChunk(asMysql(source), input);
      return base.loadChunk(input);
    },

    async loadIncremental(input) {
      const source = await sourceOf(input.source);
      if (source.connection.kind === 'mysql') return mysql.loadIncremental(asMysql(source), input);
      return base.loadIncremental(input);
    },

    async reconcileSource(input): Promise<ReconciliationSummary> {
      const source = await sourceOf(input.source);
      const kind = source.connection.kind;
      if (kind !== 'mysql' && kind !== 'files') return base.reconcileSource(input);

      if (kind === 'mysql') {
        const counts = await stagedCounts(source);
        const differ = counts.filter((c) => c.source !== c.staged);
        if (differ.length > 0) {
          // Rows added or changed after the extract explain a difference; the next run checks again.
          const moved = (await mysql.planExtract(asMysql(source))).some((p) => p.mode !== 'unchanged');
          if (!moved)
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
