import { log } from '@temporalio/activity';
import type pg from 'pg';
import { inTransaction } from '../lib/db';
import type { ReconciliationSummary } from '../contracts/pipeline-summary';
import { ident, literal, qualified } from '../lib/identifiers';
import { currentView, type StagedColumn } from '../extract/catalog';
import { stagingSchema, type SourceDefinition } from '../sources/definition';
import { failure, permanent } from '../lib/pipeline-errors';
import { findSource, SourcePools } from '../sources/registry';
import { keyIn, keyMissing } from './sql/canonical';
import {
  COMPARE_DAILY_TOTALS,
  WAREHOUSE_DAYS,
  sourceDailyTotals,
  sourceTotalsOfDays,
  sourceTotalsOfLines,
  sourceWholeTotals,
} from './sql/reconcile';
import type { ScopeLines, ScopeLineTotals } from './incremental';
import { mappingColumns } from './transform';

export interface ReconcileDeps {
  warehouse: pg.Pool;
  pools: SourcePools;
  timezone: string;
  /**
   * For the sources whose mapping cannot run at the source (MySQL: its mapping is Postgres SQL over
   * the staged copies; files: nothing is extracted), which are reconciled against their staged tables:
   * a check of the staged copy against the source first (MySQL's row counts), throwing when they differ.
   */
  checkStagedCopy?: (source: SourceDefinition) => Promise<void>;
}

/** The sources reconciled against their staged tables (reconcileStaged), not through their mapping at the source. */
const STAGED_KINDS = new Set(['mysql', 'files']);

/** A source's whole-source totals (sourceWholeTotals), as text. */
interface WholeTotals {
  lines: string;
  amount: string;
  key_hash: string;
}

/** A day's totals at the source, as sourceDailyTotals gives them. */
interface DayTotals {
  day: string;
  lines: number;
  amount: string;
  key_hash: string;
}

const NO_DATE = '(no date)';

/** The per-day source totals a matched reconciliation keeps in its summary, for the next run's changed days. */
const KEPT_DAYS = 'sourceDays';

/** A row of COMPARE_DAILY_TOTALS: a day that differs, or (day null) the totals of both sides. */
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

function withoutKeptDays(
  summary: ReconciliationSummary & { [KEPT_DAYS]?: DayTotals[] },
): ReconciliationSummary {
  const rest = { ...summary };
  delete rest[KEPT_DAYS];
  return rest;
}

/**
 * The source's per-day totals after a key-scoped transform: the changed days as counted now, the
 * others as the last matched reconciliation counted them, and the lines without a day as what the
 * whole-source totals leave. Any change at the source on an unchanged day then shows as a difference
 * (on that bucket), and the caller counts every day.
 */
function daysAndTheRest(
  kept: DayTotals[],
  changed: string[],
  counted: DayTotals[],
  whole: WholeTotals,
): DayTotals[] {
  const changedSet = new Set(changed);
  const days = [
    ...kept.filter((d) => !changedSet.has(d.day) && d.day !== NO_DATE),
    ...counted.filter((d) => Number(d.lines) > 0),
  ];
  // Exact sums: amounts are decimal strings (numeric), hashes integers.
  const lines = BigInt(whole.lines) - days.reduce((sum, d) => sum + BigInt(d.lines), 0n);
  const keyHash = BigInt(whole.key_hash) - days.reduce((sum, d) => sum + BigInt(d.key_hash), 0n);
  const amount = subtractDecimals(
    whole.amount,
    days.map((d) => d.amount),
  );
  if (lines !== 0n || keyHash !== 0n || !/^-?0(\.0*)?$/.test(amount))
    days.push({ day: NO_DATE, lines: Number(lines), amount, key_hash: keyHash.toString() });
  return days;
}

/** −a, for a decimal string. */
const negated = (a: string) => (a.startsWith('-') ? a.slice(1) : `-${a}`);
const isZero = (a: string) => /^-?0*(\.0*)?$/.test(a);

/**
 * The source's per-day totals after a key-scoped transform, from its lines alone: each day as the last
 * matched reconciliation counted it (`kept`), less the scope's lines as the warehouse held them before
 * the transform (they matched the source then, as every day did), plus the scope's lines as the source
 * holds them now (`counted`). Returns undefined unless the days add up to the whole-source totals (a
 * change at the source outside the scope), or the scope's lines differ between the source and the
 * warehouse now, on any day: then every day is counted.
 */
function scopeDays(
  kept: DayTotals[],
  keptWhole: WholeTotals,
  lines: ScopeLines,
  counted: DayTotals[],
  whole: WholeTotals,
): DayTotals[] | undefined {
  const warehouseNow = new Map(lines.now.map((d) => [d.day, d]));
  const countedDays = new Map(counted.map((d) => [d.day, d]));
  for (const day of new Set([...warehouseNow.keys(), ...countedDays.keys()])) {
    const w = warehouseNow.get(day);
    const c = countedDays.get(day);
    if (Number(w?.lines ?? 0) !== Number(c?.lines ?? 0)) return undefined;
    if (!isZero(subtractDecimals(w?.amount ?? '0', [c?.amount ?? '0']))) return undefined;
  }
  const sum = (rows: { lines: string | number; key_hash: string }[], key: 'lines' | 'key_hash') =>
    rows.reduce((total, d) => total + BigInt(d[key]), 0n);
  const amounts = (rows: { amount: string }[]) => rows.map((d) => d.amount);
  if (
    BigInt(whole.lines) !== BigInt(keptWhole.lines) - sum(lines.before, 'lines') + sum(counted, 'lines') ||
    BigInt(whole.key_hash) !==
      BigInt(keptWhole.key_hash) - sum(lines.before, 'key_hash') + sum(counted, 'key_hash') ||
    !isZero(
      subtractDecimals(whole.amount, [
        keptWhole.amount,
        ...amounts(counted),
        ...amounts(lines.before).map(negated),
      ]),
    )
  )
    return undefined;
  const days = new Map<string, { lines: bigint; key_hash: bigint; amounts: string[] }>();
  const add = (
    d: { day: string; lines: string | number; amount: string; key_hash: string },
    sign: 1n | -1n,
  ) => {
    const day = days.get(d.day) ?? { lines: 0n, key_hash: 0n, amounts: [] };
    day.lines += sign * BigInt(d.lines);
    day.key_hash += sign * BigInt(d.key_hash);
    day.amounts.push(sign > 0n ? d.amount : negated(d.amount));
    days.set(d.day, day);
  };
  for (const d of kept) add(d, 1n);
  for (const d of lines.before) add(d, -1n);
  for (const d of counted) add(d, 1n);
  return [...days]
    .map(([day, d]) => ({
      day,
      lines: Number(d.lines),
      amount: subtractDecimals('0', d.amounts.map(negated)),
      key_hash: d.key_hash.toString(),
    }))
    .filter((d) => d.lines !== 0 || d.key_hash !== '0' || !isZero(d.amount))
    .sort((a, b) => a.day.localeCompare(b.day));
}

/** Σ of a column of ScopeLineTotals, as a decimal string. */
const total = (rows: ScopeLineTotals[], key: 'q_amount') =>
  subtractDecimals(
    '0',
    rows.map((d) => negated(d[key])),
  );

/** a − Σ b, exactly, for decimal strings. */
function subtractDecimals(a: string, b: string[]): string {
  const scale = Math.max(...[a, ...b].map((x) => (x.split('.')[1] ?? '').length));
  const scaled = (x: string) => {
    const negative = x.startsWith('-');
    const [whole, fraction = ''] = x.replace('-', '').split('.');
    const value = BigInt(whole + fraction.padEnd(scale, '0'));
    return negative ? -value : value;
  };
  const total = b.reduce((sum, x) => sum - scaled(x), scaled(a));
  const negative = total < 0n;
  const digits = (negative ? -total : total).toString().padStart(scale + 1, '0');
  const text = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return negative ? `-${text}` : text;
}

/** The reconciliation's summary from COMPARE_DAILY_TOTALS' rows. */
function comparedSummary(
  source: string,
  rows: ComparedRow[],
  how: { checked?: string; unsettled: boolean },
): ReconciliationSummary {
  const totals = rows.find((r) => r.day === null)!;
  const differences = rows.filter((r) => r.day !== null);
  return {
    source,
    ...(how.checked === undefined ? {} : { checked: how.checked }),
    days: totals.days,
    mismatchedDays: differences.length > 0 ? differences[0].days : 0,
    unsettled: differences.length > 0 && how.unsettled,
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
}

/** The non-retryable ReconciliationMismatch of a summary whose days differ; `side` names what was counted. */
function mismatch(summary: ReconciliationSummary, side: 'source' | 'staged'): Error {
  const listed = summary.differences
    .map(
      (d) =>
        `${d.day}: ${side} ${d.source_lines} lines / ${d.source_amount}, warehouse ${d.warehouse_lines} / ${d.warehouse_amount}`,
    )
    .join('; ');
  return permanent(
    'ReconciliationMismatch',
    `Reconciliation of source ${summary.source} failed: ${summary.mismatchedDays} of ${summary.days} days differ` +
      (side === 'staged' ? ' between its staged tables and the warehouse. ' : '. ') +
      `Totals: ${side} ${summary.source_lines} lines / ${summary.source_amount}, warehouse ${summary.warehouse_lines} lines / ${summary.warehouse_amount} ` +
      `(facts plus ${summary.quarantined_lines} quarantined). ${listed}`,
    summary as unknown as Record<string, unknown>,
  );
}

export function createReconcileActivities({ warehouse, pools, timezone, checkStagedCopy }: ReconcileDeps) {
  /**
   * A source whose mapping cannot run at the source (STAGED_KINDS): its staged copy checked against
   * the source (checkStagedCopy), then the mapping's order lines and revenue per day over the staged
   * tables, as the transform reads them, against the facts plus quarantined lines.
   */
  async function reconcileStaged(source: SourceDefinition): Promise<ReconciliationSummary> {
    if (checkStagedCopy) await checkStagedCopy(source);
    const client = await warehouse.connect();
    let rows: ComparedRow[];
    try {
      // Written to nothing but this transaction's temporary views, and rolled back.
      await client.query('begin');
      const schema = stagingSchema(source.name);
      // Each table under its own name as the transform reads it: its current copy (the staged table
      // overlaid with the changes incremental loads appended) where there is one.
      for (const table of source.tables) {
        const { rows: found } = await client.query<{ relation: string | null }>(
          `select coalesce(to_regclass($1), to_regclass($2))::text as relation`,
          [qualified(schema, currentView(table.name)), qualified(schema, table.name)],
        );
        if (found[0].relation)
          await client.query(
            `create temporary view ${ident(table.name)} as select * from ${found[0].relation}`,
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
      rows = (await client.query<ComparedRow>(COMPARE_DAILY_TOTALS, [source.name, JSON.stringify(totals)]))
        .rows;
      await client.query('rollback');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      failure(error, `Reconciling source ${source.name} in the warehouse`);
    } finally {
      client.release();
    }
    const summary = comparedSummary(source.name, rows, { unsettled: false });
    if (summary.differences.length > 0) throw mismatch(summary, 'staged');
    return summary;
  }

  /** The source's totals by placed_at as text (sourceDailyTotals 'raw'), by day as the warehouse parses them. */
  async function daysInWarehouse(raw: DayTotals[]): Promise<DayTotals[]> {
    return inTransaction(warehouse, async (client) => {
      await client.query(`select set_config('timezone', $1, true)`, [timezone]);
      return (await client.query<DayTotals>(WAREHOUSE_DAYS, [JSON.stringify(raw)])).rows;
    });
  }

  /** True when some cursor table of the source has rows changed after its checkpoint: the source moved on. */
  async function sourceMovedOn(
    src: pg.PoolClient,
    sourceName: string,
    schema: string,
    tables: { name: string; cursor?: string }[],
  ): Promise<string[]> {
    const moved: string[] = [];
    const { rows: states } = await warehouse.query<{
      table_name: string;
      columns: StagedColumn[];
      checkpoint_cursor: string | null;
    }>(`select table_name, columns, checkpoint_cursor from ops.extract_state where source = $1`, [
      sourceName,
    ]);
    for (const table of tables) {
      const state = states.find((s) => s.table_name === table.name);
      if (!table.cursor || !state?.checkpoint_cursor) continue;
      const type = state.columns.find((c) => c.name === table.cursor)?.type ?? 'text';
      const { rows } = await src.query<{ moved: boolean }>(
        `select exists (select 1 from ${qualified(schema, table.name)} where ${ident(table.cursor)} > ${literal(state.checkpoint_cursor, type)}) as moved`,
      );
      if (rows[0].moved) moved.push(table.name);
    }
    return moved;
  }

  /**
   * Keeps a reconciliation in which every day matched, with the source's whole-source totals and the
   * transform it saw, for the next run's cheap check; forgets it otherwise (`transformRun` null).
   */
  async function rememberReconciliation(
    sourceName: string,
    transformRun: string | null,
    whole: WholeTotals,
    summary: ReconciliationSummary,
    days: DayTotals[],
  ): Promise<void> {
    if (transformRun === null) {
      await warehouse.query(`delete from ops.reconciled_sources where source = $1`, [sourceName]);
      return;
    }
    await warehouse.query(
      `insert into ops.reconciled_sources (source, transform_run, lines, amount, key_hash, summary)
       values ($1, $2, $3, $4, $5, $6)
       on conflict (source) do update set transform_run = excluded.transform_run, lines = excluded.lines,
         amount = excluded.amount, key_hash = excluded.key_hash, summary = excluded.summary, reconciled_at = now()`,
      [
        sourceName,
        transformRun,
        whole.lines,
        whole.amount,
        whole.key_hash,
        JSON.stringify({ ...summary, [KEPT_DAYS]: days }),
      ],
    );
  }

  return {
    /**
     * Compares order lines and revenue per day between the source (through its own mapping) and the
     * warehouse (facts plus quarantined lines). A difference fails the run, non-retryably, with the
     * numbers — unless the source changed after it was extracted, when the difference may be that
     * change: then the run records it as unsettled and the next run checks again.
     */
    async reconcileSource(input: { source: string; runId: string }): Promise<ReconciliationSummary> {
      const source = await findSource(warehouse, input.source);
      if (STAGED_KINDS.has(source.connection.kind)) return reconcileStaged(source);
      const schema = SourcePools.schemaOf(source);
      // The run whose transform last wrote this source's core rows, and the last reconciliation that
      // matched while they were as they are now (if any).
      const { rows: states } = await warehouse.query<{
        transform_run: string | null;
        scoped_after: string | null;
        scoped_days: string[] | null;
        scope_lines: ScopeLines | null;
        reconciled_run: string | null;
        kept: (WholeTotals & { summary: ReconciliationSummary & { [KEPT_DAYS]?: DayTotals[] } }) | null;
      }>(
        `select t.run_id as transform_run, t.inputs->'scoped'->>'after' as scoped_after,
                t.inputs->'scoped'->'days' as scoped_days, t.inputs->'scoped'->'lines' as scope_lines,
                r.transform_run as reconciled_run,
                case when r.source is not null then jsonb_build_object('lines', r.lines::text, 'amount', r.amount::text,
                       'key_hash', r.key_hash::text, 'summary', r.summary) end as kept
           from ops.transform_state t
           left join ops.reconciled_sources r on r.source = t.source
          where t.source = $1`,
        [source.name],
      );
      const transformRun = states[0]?.transform_run ?? null;
      const kept = states[0]?.kept ?? null;
      const keptDays = kept?.summary[KEPT_DAYS];
      const matched =
        kept && states[0].reconciled_run === transformRun
          ? { ...kept, summary: withoutKeptDays(kept.summary) }
          : null;
      // A key-scoped transform since the last reconciliation that matched: only its days need counting.
      let changedDays =
        !matched && kept && keptDays && states[0].scoped_after === states[0].reconciled_run
          ? states[0].scoped_days
          : null;
      // Better still: only the lines it wrote again need counting (not where a source sums repeated
      // lines: a summed fact stands for several source lines, whose ids it does not keep).
      const scopeLines =
        changedDays && (source.duplicates ?? 'quarantine') !== 'sum' ? states[0].scope_lines : null;
      let checked = 'every day counted';
      // When most days changed, counting every day costs less than the changed ones and the totals.
      if (changedDays && keptDays && changedDays.length > keptDays.length / 2) {
        checked = `every day counted (${changedDays.length} of ${keptDays.length} days changed)`;
        changedDays = null;
      }
      /** The source's per-day totals against the warehouse's, and the whole-source totals they sum to. */
      const compareInWarehouse = async (
        totals: DayTotals[],
      ): Promise<{ rows: ComparedRow[]; whole: WholeTotals }> => {
        const client = await warehouse.connect();
        try {
          await client.query('begin read only');
          await client.query(
            `select set_config('timezone', $1, true), set_config('work_mem', '128MB', true)`,
            [timezone],
          );
          const rows = (
            await client.query<ComparedRow>(COMPARE_DAILY_TOTALS, [source.name, JSON.stringify(totals)])
          ).rows;
          // The whole-source totals, summed from the days (exact: numeric), for the next run's cheap check.
          const whole = (
            await client.query<WholeTotals>(
              `select coalesce(sum(lines), 0)::text as lines, coalesce(sum(amount), 0)::text as amount,
                      coalesce(sum(key_hash), 0)::text as key_hash
                 from jsonb_to_recordset($1::jsonb) as s(lines bigint, amount numeric, key_hash numeric)`,
              [JSON.stringify(totals)],
            )
          ).rows[0];
          await client.query('commit');
          return { rows, whole };
        } catch (error) {
          await client.query('rollback').catch(() => undefined);
          failure(error, `Reconciling source ${source.name} in the warehouse`);
        } finally {
          client.release();
        }
      };
      let compared: { rows: ComparedRow[]; whole: WholeTotals } | undefined;
      let sourceTotals: DayTotals[];
      let scopedTotals: DayTotals[] | undefined;
      /** The source's days from the scope's lines (scopeDays), when they add up and match. */
      let byScope: { days: DayTotals[]; whole: WholeTotals; orders: number } | undefined;
      let moved: string[];
      let src: pg.PoolClient;
      try {
        src = await pools.get(source).connect();
      } catch (error) {
        failure(error, `Cannot reach source ${source.name}`, { side: 'source' });
      }
      try {
        await src.query('begin isolation level repeatable read read only');
        await src.query(`select set_config('timezone', $1, true), set_config('search_path', $2, true)`, [
          timezone,
          ident(schema),
        ]);
        const version = Number(
          (await src.query<{ v: string }>(`select current_setting('server_version_num') as v`)).rows[0].v,
        );
        const present = await mappingColumns(src, source, 'orderLines', 'source');
        const ordersPresent = await mappingColumns(src, source, 'orders', 'source');
        if (matched) {
          let current: WholeTotals;
          try {
            current = (
              await src.query<WholeTotals>(
                sourceWholeTotals(source.mapping.orderLines, new Set(present.keys())),
              )
            ).rows[0];
          } catch (error) {
            failure(error, `Counting the order lines of source ${source.name}`, {
              side: 'source',
              type: 'MappingFailed',
            });
          }
          if (
            matched.lines === current.lines &&
            matched.amount === current.amount &&
            matched.key_hash === current.key_hash
          ) {
            // Every day matched; since then neither the warehouse side nor the source's totals changed.
            await src.query('commit');
            src.release();
            log.info('Reconciled by whole-source totals: unchanged since every day last matched', {
              source: source.name,
              lines: current.lines,
            });
            return {
              ...matched.summary,
              checked: 'by whole-source totals (nothing changed since every day matched)',
            };
          }
        }
        /**
         * `count` on the source; on PostgreSQL 15 (no pg_input_is_valid, so a date is cast as it is)
         * undefined when a value is not a date, the snapshot kept (a savepoint).
         */
        const castOrUndefined = async <T>(count: () => Promise<T>): Promise<T | undefined> => {
          if (version >= 160000) return count();
          await src.query('savepoint cartflow_cast');
          try {
            const result = await count();
            await src.query('release savepoint cartflow_cast');
            return result;
          } catch (error) {
            if (!String((error as { code?: unknown }).code ?? '').startsWith('22')) throw error;
            await src.query('rollback to savepoint cartflow_cast');
            log.info('A date at the source is not one: the days are found in the warehouse', {
              source: source.name,
            });
            return undefined;
          }
        };
        const countEveryDay = async () => {
          try {
            const counted = await castOrUndefined(
              async () =>
                (
                  await src.query<DayTotals>(
                    sourceDailyTotals(source.mapping, new Set(present.keys()), version >= 160000),
                  )
                ).rows,
            );
            if (counted) return counted;
            // PostgreSQL 15, a value that is not a date: counted by placed_at, parsed in the warehouse.
            const raw = (
              await src.query<DayTotals>(sourceDailyTotals(source.mapping, new Set(present.keys()), 'raw'))
            ).rows;
            return await daysInWarehouse(raw);
          } catch (error) {
            failure(error, `Counting the order lines of source ${source.name} by day`, {
              side: 'source',
              type: 'MappingFailed',
            });
          }
        };
        if (scopeLines && keptDays && kept) {
          try {
            const whole = (
              await src.query<WholeTotals>(
                sourceWholeTotals(source.mapping.orderLines, new Set(present.keys())),
              )
            ).rows[0];
            const params: unknown[] = [];
            const member = `(${keyIn('l.order_id', present.get('order_id'), scopeLines.orders, params)}
              or ${keyIn('l.order_line_id', present.get('order_line_id'), scopeLines.changedLines, params)}
              or ${keyMissing('l.order_line_id', present.get('order_line_id'))})`;
            const orderMember = keyIn('order_id', ordersPresent.get('order_id'), scopeLines.orders, params);
            const counted = await castOrUndefined(
              async () =>
                (
                  await src.query<DayTotals>(
                    sourceTotalsOfLines(
                      source.mapping,
                      new Set(present.keys()),
                      version >= 160000,
                      member,
                      orderMember,
                    ),
                    params,
                  )
                ).rows,
            );
            const days = counted && scopeDays(keptDays, kept, scopeLines, counted, whole);
            if (days) byScope = { days, whole, orders: scopeLines.orders.length };
          } catch (error) {
            failure(error, `Counting the order lines of source ${source.name} of the changed orders`, {
              side: 'source',
              type: 'MappingFailed',
            });
          }
        }
        if (changedDays && keptDays && !scopeLines && !byScope) {
          try {
            const whole = (
              await src.query<WholeTotals>(
                sourceWholeTotals(source.mapping.orderLines, new Set(present.keys())),
              )
            ).rows[0];
            const counted = await castOrUndefined(
              async () =>
                (
                  await src.query<DayTotals>(
                    sourceTotalsOfDays(source.mapping, new Set(present.keys()), version >= 160000),
                    [changedDays.filter((d) => d !== NO_DATE)],
                  )
                ).rows,
            );
            if (counted) scopedTotals = daysAndTheRest(keptDays, changedDays, counted, whole);
          } catch (error) {
            failure(error, `Counting the order lines of source ${source.name} on the changed days`, {
              side: 'source',
              type: 'MappingFailed',
            });
          }
        }
        if (byScope) sourceTotals = byScope.days;
        else if (scopedTotals) {
          // The changed days counted, the others as last matched: if any day differs, every day is
          // counted in the same snapshot, so a difference is reported exactly as a full count reports it.
          const attempt = await compareInWarehouse(scopedTotals);
          if (attempt.rows.every((r) => r.day === null)) {
            compared = attempt;
            sourceTotals = scopedTotals;
            const counted = changedDays!.filter((d) => d !== NO_DATE).length;
            checked = `${counted} changed days counted, the other ${Math.max(
              0,
              attempt.rows[0].days - counted,
            )} by whole-source totals`;
          } else sourceTotals = await countEveryDay();
        } else sourceTotals = await countEveryDay();
        moved = byScope ? [] : await sourceMovedOn(src, source.name, schema, source.tables);
        await src.query('commit');
      } catch (error) {
        await src.query('rollback').catch(() => undefined);
        src.release(true);
        failure(error, `Reconciling source ${source.name}`, { side: 'source' });
      }
      src.release();

      if (byScope && kept && scopeLines) {
        // Every day as the warehouse holds it is the last matched one less the scope's lines before
        // plus the scope's lines now, which match the source's: every day matches.
        const { days, whole } = byScope;
        const before = kept.summary;
        const summary: ReconciliationSummary = {
          source: source.name,
          checked: `the lines of ${byScope.orders.toLocaleString('en-US')} changed orders counted, the others by whole-source totals`,
          days: days.filter((d) => d.lines > 0).length,
          mismatchedDays: 0,
          unsettled: false,
          source_lines: Number(whole.lines),
          source_amount: whole.amount,
          warehouse_lines: Number(whole.lines),
          warehouse_amount: whole.amount,
          quarantined_lines:
            Number(before.quarantined_lines) -
            scopeLines.before.reduce((n, d) => n + Number(d.q_lines), 0) +
            scopeLines.now.reduce((n, d) => n + Number(d.q_lines), 0),
          quarantined_amount: subtractDecimals(String(before.quarantined_amount), [
            total(scopeLines.before, 'q_amount'),
            negated(total(scopeLines.now, 'q_amount')),
          ]),
          differences: [],
        };
        await rememberReconciliation(source.name, transformRun, whole, summary, days);
        log.info('Reconciled by the lines of the changed orders', {
          source: source.name,
          orders: byScope.orders,
        });
        return summary;
      }
      if (!compared) compared = await compareInWarehouse(sourceTotals);
      const { rows, whole } = compared;
      const summary = comparedSummary(source.name, rows, { checked, unsettled: moved.length > 0 });
      const differ = summary.differences.length > 0;
      await rememberReconciliation(source.name, differ ? null : transformRun, whole, summary, sourceTotals);
      if (differ && moved.length === 0) throw mismatch(summary, 'source');
      if (summary.unsettled)
        log.warn(
          'Reconciliation differs, but the source changed after the extract; the next run checks again',
          {
            source: source.name,
            movedTables: moved,
            mismatchedDays: summary.mismatchedDays,
          },
        );
      return summary;
    },
  };
}
