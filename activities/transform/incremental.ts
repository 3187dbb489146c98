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
import { ident, qualified } from '../extract/identifiers';
import type { SourceDefinition } from '../sources/definition';
import * as canonicalSql from '../sql/canonical';
import * as dimensionsSql from '../sql/dimensions';
import * as factsSql from '../sql/facts';
import * as qualitySql from '../sql/quality';

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
}

export interface TransformInputs {
  fingerprint: string;
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
  const marker = async (relation: string) => {
    const { rows } = await client.query<{ rows: number; xmin_sum: string }>(
      `select count(*)::int as rows, coalesce(sum(xmin::text::bigint), 0)::text as xmin_sum from ${relation}`,
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
      ? await marker(`${ident(schema)}.${ident(changesTable(table.name))}`)
      : undefined;
    tables[table.name] = {
      ...base,
      ...(changes ? { changes_rows: changes.rows, changes_xmin_sum: changes.xmin_sum } : {}),
    };
  }
  const fingerprint = crypto
    .createHash('sha256')
    .update(JSON.stringify({ source, timezone, code: TRANSFORM_CODE, tables }))
    .digest('hex');
  return { fingerprint, tables };
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

/** Records the inputs a transform read and what it quarantined, in its transaction. */
export async function recordTransform(
  client: pg.PoolClient,
  sourceName: string,
  inputs: TransformInputs,
  runId: string,
  quarantined: QuarantineCount[],
): Promise<void> {
  await client.query(
    `insert into ops.transform_state (source, fingerprint, inputs, run_id, quarantined) values ($1, $2, $3, $4, $5)
     on conflict (source) do update set fingerprint = excluded.fingerprint, inputs = excluded.inputs,
       run_id = excluded.run_id, quarantined = excluded.quarantined, transformed_at = now()`,
    [sourceName, inputs.fingerprint, JSON.stringify(inputs.tables), runId, JSON.stringify(quarantined)],
  );
}
