/**
 * What lets a day cost what changed. A transform is a function of the source's definition, the
 * shop's time zone, the transform's own code and the staged tables it reads; when none of them
 * changed since the last transform of the source, core is already what it would write, and the run
 * skips it. Reconciliation then needs no per-day count on either side: the warehouse's days are those
 * of the last reconciliation that matched, and the source is checked by its whole-source totals.
 */
import crypto from 'node:crypto';
import type pg from 'pg';
import { changesTable } from '../extract/catalog';
import { ident, qualified } from '../lib/identifiers';
import type { SourceDefinition } from '../sources/definition';
import * as canonicalSql from './sql/canonical';
import * as dimensionsSql from './sql/dimensions';
import * as factsSql from './sql/facts';
import * as qualitySql from './sql/quality';

/** The transform's SQL as text: a change to any statement makes every source's inputs new. */
const TRANSFORM_CODE = crypto
  .createHash('sha256')
  .update(
    [canonicalSql, dimensionsSql, factsSql, qualitySql]
      .flatMap((module) =>
        Object.entries(module).map(
          ([name, value]) => `${name}=${typeof value === 'function' ? String(value) : JSON.stringify(value)}`,
        ),
      )
      .join('\n'),
  )
  .digest('hex');

/** A staged table's rows, marked: any row written, deleted or replaced since changes its count or sum of xmin. */
interface TableMarker {
  rows: number;
  xmin_sum: string;
  changes_rows?: number;
  changes_xmin_sum?: string;
  /** The latest loading transaction among the changes (`cartflow_seq`), '0' without changes. */
  changes_seq?: string;
}

export interface TransformInputs {
  fingerprint: string;
  /** The definition's, time zone's and code's part alone: equal, a key-scoped transform may follow. */
  staticFingerprint: string;
  tables: Record<string, TableMarker | null>;
}

/**
 * The inputs of a source's transform, read in the transform's transaction (so they are what it maps):
 * per listed table, the row count and the sum of the rows' xmin (the transaction that wrote each) of
 * the staged table and of its changes. A scan without sorting or joins: a fraction of what mapping the
 * rows costs.
 */
export async function transformInputs(
  client: pg.PoolClient,
  source: SourceDefinition,
  schema: string,
  timezone: string,
): Promise<TransformInputs> {
  const tables: Record<string, TableMarker | null> = {};
  const marker = async (relation: string, withSeq = false) => {
    const { rows } = await client.query<{ rows: number; xmin_sum: string; seq: string }>(
      `select count(*)::int as rows, coalesce(sum(xmin::text::bigint), 0)::text as xmin_sum,
              ${withSeq ? 'coalesce(max(cartflow_seq), 0)::text' : "'0'"} as seq from ${relation}`,
    );
    return rows[0];
  };
  for (const table of source.tables) {
    const { rows } = await client.query<{ base: string | null; changes: string | null }>(
      `select to_regclass($1)::text as base, to_regclass($2)::text as changes`,
      [qualified(schema, table.name), qualified(schema, changesTable(table.name))],
    );
    if (!rows[0].base) {
      tables[table.name] = null;
      continue;
    }
    const base = await marker(qualified(schema, table.name));
    const changes = rows[0].changes
      ? await marker(`${ident(schema)}.${ident(changesTable(table.name))}`, true)
      : undefined;
    tables[table.name] = {
      rows: base.rows,
      xmin_sum: base.xmin_sum,
      ...(changes
        ? { changes_rows: changes.rows, changes_xmin_sum: changes.xmin_sum, changes_seq: changes.seq }
        : {}),
    };
  }
  const staticFingerprint = crypto
    .createHash('sha256')
    .update(JSON.stringify({ source, timezone, code: TRANSFORM_CODE }))
    .digest('hex');
  // changes_seq follows from the changes' rows: the fingerprint stays what it was before it was kept.
  const marked = Object.fromEntries(
    Object.entries(tables).map(([name, m]) => [
      name,
      m && {
        rows: m.rows,
        xmin_sum: m.xmin_sum,
        ...(m.changes_rows !== undefined
          ? { changes_rows: m.changes_rows, changes_xmin_sum: m.changes_xmin_sum }
          : {}),
      },
    ]),
  );
  const fingerprint = crypto
    .createHash('sha256')
    .update(JSON.stringify({ source, timezone, code: TRANSFORM_CODE, tables: marked }))
    .digest('hex');
  return { fingerprint, staticFingerprint, tables };
}

/** A source's last transform: what it read, and its run. */
export interface PreviousTransform {
  runId: string;
  quarantined: QuarantineCount[];
  inputs: { staticFingerprint?: string; tables?: Record<string, TableMarker | null> };
}

export async function previousTransform(
  client: pg.PoolClient,
  sourceName: string,
): Promise<PreviousTransform | undefined> {
  const { rows } = await client.query<{
    run_id: string;
    inputs: PreviousTransform['inputs'];
    quarantined: QuarantineCount[];
  }>(`select run_id, inputs, quarantined from ops.transform_state where source = $1`, [sourceName]);
  return rows[0]
    ? { runId: rows[0].run_id, inputs: rows[0].inputs, quarantined: rows[0].quarantined }
    : undefined;
}

/** A key-scoped transform runs when the changed rows of every staged table are at most this share of it. */
export const SCOPE_THRESHOLD = 0.1;

/** Which path a source's transform takes, and why. */
export type TransformPlan =
  | { path: 'full'; reason: string }
  | { path: 'scoped'; after: string; changed: { table: string; sinceSeq: string; rows: number }[] };

/**
 * Whether only what changed since the last transform needs transforming: the same definition, time
 * zone and code; every staged table's rows as the last transform read them (no reload, no fold) with
 * changes appended after it; and the appended rows at most SCOPE_THRESHOLD of each table. Then the
 * changed rows are those of the changes with a later `cartflow_seq`.
 */
export async function planTransform(
  client: pg.PoolClient,
  source: SourceDefinition,
  schema: string,
  inputs: TransformInputs,
  previous: PreviousTransform | undefined,
  forceFull: boolean,
): Promise<TransformPlan> {
  if (forceFull) return { path: 'full', reason: 'full transform asked for (CARTFLOW_FULL_TRANSFORM)' };
  if (!previous) return { path: 'full', reason: 'first transform of the source' };
  if (previous.inputs.staticFingerprint !== inputs.staticFingerprint || !previous.inputs.tables)
    return { path: 'full', reason: 'definition, time zone or transform changed since the last transform' };
  const changed: { table: string; sinceSeq: string; rows: number }[] = [];
  for (const table of source.tables) {
    const now = inputs.tables[table.name];
    const before = previous.inputs.tables[table.name];
    if (!now || !before || now.rows !== before.rows || now.xmin_sum !== before.xmin_sum)
      return { path: 'full', reason: `${table.name} was reloaded or its changes folded in` };
    if (
      (now.changes_rows ?? 0) === (before.changes_rows ?? 0) &&
      now.changes_xmin_sum === before.changes_xmin_sum
    )
      continue;
    if (before.changes_seq === undefined)
      return { path: 'full', reason: `${table.name}'s changes were not marked by the last transform` };
    const { rows } = await client.query<{ rows: number; xmin_sum: string; later: number }>(
      `select count(*) filter (where cartflow_seq <= $1)::int as rows,
              coalesce(sum(xmin::text::bigint) filter (where cartflow_seq <= $1), 0)::text as xmin_sum,
              count(*) filter (where cartflow_seq > $1)::int as later
         from ${ident(schema)}.${ident(changesTable(table.name))}`,
      [before.changes_seq],
    );
    if (rows[0].rows !== (before.changes_rows ?? 0) || rows[0].xmin_sum !== (before.changes_xmin_sum ?? '0'))
      return { path: 'full', reason: `${table.name}'s changes were rewritten since the last transform` };
    if (rows[0].later > SCOPE_THRESHOLD * Math.max(now.rows, 1))
      return {
        path: 'full',
        reason: `${table.name}: ${rows[0].later} changed rows, more than ${SCOPE_THRESHOLD * 100}% of its ${now.rows}`,
      };
    if (rows[0].later > 0)
      changed.push({ table: table.name, sinceSeq: before.changes_seq, rows: rows[0].later });
  }
  return { path: 'scoped', after: previous.runId, changed };
}

/** What makes a mapping not key-local: its rows for a key may change when rows not reaching that key do. */
function planProblems(plan: unknown, schema: string, tables: Set<string>, read: Set<string>): string[] {
  const problems: string[] = [];
  const walk = (node: Record<string, unknown>) => {
    if (node['Join Type'] === 'Anti') problems.push('an anti-join (not exists / not in)');
    if (['SetOp', 'Limit', 'WindowAgg'].includes(node['Node Type'] as string))
      problems.push(`a ${node['Node Type'] as string}`);
    if (node['Node Type'] === 'Aggregate' && node['Strategy'] === 'Plain')
      problems.push('an ungrouped aggregate');
    if (['InitPlan', 'SubPlan'].includes(node['Parent Relationship'] as string)) problems.push('a subquery');
    const relation = node['Relation Name'] as string | undefined;
    if (relation && node['Schema'] === schema) {
      const name = relation.replace(/__changes$/, '');
      if (tables.has(name)) read.add(name);
    }
    for (const child of (node['Plans'] as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  walk((plan as { Plan: Record<string, unknown> }[])[0].Plan);
  return [...new Set(problems)];
}

/**
 * The staged tables a mapping reads, from its plan, and whether it is key-local: a select, join,
 * filter, grouping by key or distinct of staged rows, whose rows for a key depend only on staged rows
 * that join to it. Then running it over a table's changed rows (old and new versions) and the other
 * tables whole yields every key whose row may have changed. Anti-joins, set operations, limits,
 * window functions, ungrouped aggregates and subqueries may not: such a mapping is transformed in full.
 */
export async function mappingReads(
  client: pg.PoolClient,
  sql: string,
  schema: string,
  tables: string[],
): Promise<{ reads: Set<string>; problems: string[] }> {
  const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
    `explain (format json, verbose) select * from (${sql}) m`,
  );
  const reads = new Set<string>();
  const problems = planProblems(rows[0]['QUERY PLAN'], schema, new Set(tables), reads);
  return { reads, problems };
}

export interface QuarantineCount {
  entity: string;
  rule: string;
  rows: number;
}

/** What the last transform of the source quarantined, when it read exactly these inputs; else undefined. */
export async function transformedAlready(
  client: pg.PoolClient,
  sourceName: string,
  inputs: TransformInputs,
): Promise<QuarantineCount[] | undefined> {
  const { rows } = await client.query<{ quarantined: QuarantineCount[] }>(
    `select quarantined from ops.transform_state where source = $1 and fingerprint = $2`,
    [sourceName, inputs.fingerprint],
  );
  return rows[0]?.quarantined;
}

/** One day of a key-scoped transform's lines in the warehouse (scopeLineTotals); bigints as text. */
export interface ScopeLineTotals {
  day: string;
  lines: string;
  amount: string;
  key_hash: string;
  q_lines: string;
  q_amount: string;
}

/**
 * The order lines a key-scoped transform wrote again: those of `orders`, the `changedLines` and the
 * lines without a key; per day, as the warehouse held them `before` and holds them `now`. What lets
 * reconciliation count at the source only these lines.
 */
export interface ScopeLines {
  orders: string[];
  changedLines: string[];
  before: ScopeLineTotals[];
  now: ScopeLineTotals[];
}

/** Records the inputs a transform read and what it quarantined, in its transaction. */
export async function recordTransform(
  client: pg.PoolClient,
  sourceName: string,
  inputs: TransformInputs,
  runId: string,
  quarantined: QuarantineCount[],
  /** A key-scoped transform: the run it followed and the days (of placed_at) its changes touched. */
  scoped?: { after: string; days: string[]; lines?: ScopeLines },
): Promise<void> {
  await client.query(
    `insert into ops.transform_state (source, fingerprint, inputs, run_id, quarantined) values ($1, $2, $3, $4, $5)
     on conflict (source) do update set fingerprint = excluded.fingerprint, inputs = excluded.inputs,
       run_id = excluded.run_id, quarantined = excluded.quarantined, transformed_at = now()`,
    [
      sourceName,
      inputs.fingerprint,
      JSON.stringify({ staticFingerprint: inputs.staticFingerprint, tables: inputs.tables, scoped }),
      runId,
      JSON.stringify(quarantined),
    ],
  );
}
