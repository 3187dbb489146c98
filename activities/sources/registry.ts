import pg from 'pg';
import { createPool } from '../../lib/db';
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
  if (!source) throw new Error(`No source named "${name}": see "cartflow source list".`);
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
      await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `cartflow.extract:${sourceName}.${name}`,
      ]);
      const schema = pg.escapeIdentifier(stagingSchema(sourceName));
      // The table, its changes and the view over both (dropped with the table).
      await client.query(`drop table if exists ${schema}.${pg.escapeIdentifier(name)} cascade`);
      await client.query(`drop table if exists ${schema}.${pg.escapeIdentifier(`${name}__changes`)}`);
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
