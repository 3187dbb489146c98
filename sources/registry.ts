import type pg from 'pg';
import { createPool } from '../lib/db';
import { advisoryLock, ident, LOCKS, qualified } from '../lib/identifiers';
import { permanent } from '../lib/pipeline-errors';
import { DEMO_SHOP_SOURCE } from './demo-shop';
import { stagingSchema, validateSourceDefinition, type SourceDefinition } from './definition';

/**
 * The sources a run takes: the built-in demo shop, and those registered in `ops.sources` (a registered
 * source named `shop` replaces the built-in one; one registered with `"enabled": false` is skipped).
 */
export async function listSources(warehouse: pg.Pool): Promise<SourceDefinition[]> {
  const { rows } = await warehouse.query<{ name: string; definition: unknown }>(
    'select name, definition from ops.sources order by name',
  );
  const registered = rows.map((row) => validateSourceDefinition(row.definition));
  const disabled = new Set(
    rows.filter((row) => (row.definition as { enabled?: boolean }).enabled === false).map((row) => row.name),
  );
  const all = [
    ...(registered.some((s) => s.name === DEMO_SHOP_SOURCE.name) ? [] : [DEMO_SHOP_SOURCE]),
    ...registered,
  ];
  return all.filter((source) => !disabled.has(source.name));
}

export async function findSource(warehouse: pg.Pool, name: string): Promise<SourceDefinition> {
  const source = (await listSources(warehouse)).find((s) => s.name === name);
  if (!source) throw permanent('SourceNotFound', `No source named "${name}": see "cartflow source list".`);
  return source;
}

/** Registers or replaces a source; returns whether it replaced one. */
export async function saveSource(warehouse: pg.Pool, definition: SourceDefinition): Promise<boolean> {
  const valid = validateSourceDefinition(definition);
  const { rows } = await warehouse.query<{ inserted: boolean }>(
    `insert into ops.sources (name, definition) values ($1, $2)
     on conflict (name) do update set definition = excluded.definition, updated_at = now()
     returning (xmax = 0) as inserted`,
    [valid.name, JSON.stringify(valid)],
  );
  return !rows[0].inserted;
}

export async function removeSource(warehouse: pg.Pool, name: string): Promise<boolean> {
  const result = await warehouse.query('delete from ops.sources where name = $1', [name]);
  return result.rowCount === 1;
}

/** One pool per source database, opened on first use; the demo shop uses the platform's own pool. */
export class SourcePools {
  private readonly pools = new Map<string, pg.Pool>();

  constructor(private readonly shop: pg.Pool) {}

  get(source: SourceDefinition): pg.Pool {
    if (source.connection.kind === 'demo-shop') return this.shop;
    // Not Postgres: MySQL is read by extract/mysql.ts, files are staged by cartflow import (extract/source-kinds.ts).
    if (source.connection.kind === 'mysql' || source.connection.kind === 'files')
      throw new Error(
        `Source ${source.name} is a ${source.connection.kind} source, not a Postgres database.`,
      );
    const url = source.connection.url;
    let pool = this.pools.get(url);
    if (!pool) {
      pool = createPool(url, `cartflow-source-${source.name}`, 8);
      this.pools.set(url, pool);
    }
    return pool;
  }

  /** The schema the source's tables are in. */
  static schemaOf(source: SourceDefinition): string {
    return source.connection.schema ?? 'public';
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.end()));
    this.pools.clear();
  }
}

/**
 * Forgets what was staged for a source's table (or all its tables): drops the staged copy and its
 * checkpoint, so the next run loads it in full with the source's current columns. The way out of a
 * `SourceSchemaChanged` stop once the mapping is known to hold. Returns the tables reset.
 */
export async function resetSourceTables(
  warehouse: pg.Pool,
  sourceName: string,
  table?: string,
): Promise<string[]> {
  const client = await warehouse.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{ table_name: string }>(
      `select table_name from ops.extract_state where source = $1 and ($2::text is null or table_name = $2)`,
      [sourceName, table ?? null],
    );
    const tables = rows.map((r) => r.table_name);
    if (table && !tables.includes(table)) tables.push(table);
    for (const name of tables) {
      await advisoryLock(client, LOCKS.extract(sourceName, name));
      const schema = stagingSchema(sourceName);
      // The table, its changes and the view over both (dropped with the table).
      await client.query(`drop table if exists ${qualified(schema, name)} cascade`);
      await client.query(`drop table if exists ${qualified(schema, `${name}__changes`)}`);
    }
    await client.query(
      `delete from ops.extract_chunks where source = $1 and ($2::text is null or table_name = $2)`,
      [sourceName, table ?? null],
    );
    await client.query(
      `delete from ops.extract_state where source = $1 and ($2::text is null or table_name = $2)`,
      [sourceName, table ?? null],
    );
    await client.query('commit');
    return tables;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** What purging a source deletes, by kind; `tables` says where the rows are. */
export interface SourceData {
  source: string;
  facts: number;
  dimensionRows: number;
  stagedTables: number;
  quarantineRows: number;
  checkpoints: number;
  /** 1 when the source is registered in ops.sources. */
  definition: number;
  /** Rows of other tables keyed by the source: canonical rows, marts, import records. */
  otherRows: number;
  /** Every table with rows of the source, `schema.table` → rows (staged tables: their rows too). */
  tables: Record<string, number>;
}

/** The kind of data a warehouse table (`schema.table`) with a `source` column holds, for the purge's counts. */
export function sourceDataKind(
  qualifiedName: string,
): 'facts' | 'dimensionRows' | 'quarantineRows' | 'checkpoints' | 'otherRows' {
  const [schema, table] = qualifiedName.split('.');
  if (schema === 'core' && table.startsWith('fact_')) return 'facts';
  if (schema === 'core' && table.startsWith('dim_')) return 'dimensionRows';
  if (schema === 'ops' && table === 'quarantine') return 'quarantineRows';
  if (schema === 'ops' && (table === 'extract_state' || table === 'extract_chunks')) return 'checkpoints';
  return 'otherRows';
}

/**
 * Counts what a source left in the warehouse — or, with `purge`, deletes it, in the caller's
 * transaction: every row of a `core`, `staging`, `ops` or `mart` table whose `source` column names
 * it (facts, dimension versions, canonical rows, quarantine, checkpoints, marts, import records), its
 * staging schema with every staged table, and its definition. Takes the locks a run's transform,
 * extract and imports take, so a purge never interleaves with them.
 */
async function sourceData(client: pg.PoolClient, name: string, purge: boolean): Promise<SourceData> {
  const data: SourceData = {
    source: name,
    facts: 0,
    dimensionRows: 0,
    stagedTables: 0,
    quarantineRows: 0,
    checkpoints: 0,
    definition: 0,
    otherRows: 0,
    tables: {},
  };
  const schema = stagingSchema(name);
  if (purge) {
    const { rows: staged } = await client.query<{ table_name: string }>(
      `select table_name from ops.extract_state where source = $1 order by table_name`,
      [name],
    );
    for (const lock of [
      LOCKS.transform(name),
      LOCKS.import(name),
      ...staged.map((t) => LOCKS.extract(name, t.table_name)),
    ])
      await advisoryLock(client, lock);
  }
  const { rows: keyed } = await client.query<{ schema: string; table: string }>(
    `select c.table_schema as schema, c.table_name as table
       from information_schema.columns c
       join information_schema.tables t using (table_schema, table_name)
      where c.column_name = 'source' and t.table_type = 'BASE TABLE'
        and c.table_schema in ('core', 'staging', 'ops', 'mart')
      order by 1, 2`,
  );
  for (const { schema: s, table } of keyed) {
    const target = qualified(s, table);
    const rows = purge
      ? ((await client.query(`delete from ${target} where source = $1`, [name])).rowCount ?? 0)
      : (
          await client.query<{ n: number }>(`select count(*)::int as n from ${target} where source = $1`, [
            name,
          ])
        ).rows[0].n;
    if (rows === 0) continue;
    data.tables[`${s}.${table}`] = rows;
    data[sourceDataKind(`${s}.${table}`)] += rows;
  }
  const { rows: stagedTables } = await client.query<{ table: string }>(
    `select c.relname as table
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'p') order by 1`,
    [schema],
  );
  for (const { table } of stagedTables) {
    const { rows } = await client.query<{ n: number }>(
      `select count(*)::int as n from ${qualified(schema, table)}`,
    );
    data.tables[`${schema}.${table}`] = rows[0].n;
  }
  data.stagedTables = stagedTables.filter((t) => !t.table.endsWith('__changes')).length;
  if (purge) await client.query(`drop schema if exists ${ident(schema)} cascade`);
  const { rowCount } = await client.query(
    purge ? `delete from ops.sources where name = $1` : `select 1 from ops.sources where name = $1`,
    [name],
  );
  data.definition = rowCount ?? 0;
  return data;
}

/** What `purgeSource` would delete, counted without changing anything. */
export async function countSourceData(warehouse: pg.Pool, name: string): Promise<SourceData> {
  const client = await warehouse.connect();
  try {
    await client.query('begin read only');
    return await sourceData(client, name, false);
  } finally {
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
}

/**
 * Deletes everything a source left in the warehouse, and its definition, in one transaction; returns
 * what went. The demo shop is built in: purging it empties its data, and the next run loads it again.
 */
export async function purgeSource(warehouse: pg.Pool, name: string): Promise<SourceData> {
  const client = await warehouse.connect();
  try {
    await client.query('begin');
    const data = await sourceData(client, name, true);
    await client.query('commit');
    return data;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
