import type pg from 'pg';
import type { SourceTable } from '../sources/definition';
import { permanent } from '../lib/pipeline-errors';
import { advisoryLock, ident, LOCKS, qualified } from '../lib/identifiers';

/** One column as it is staged: its source type, or text for a type the warehouse may not have. */
export interface StagedColumn {
  name: string;
  /** The type of the staged column, as `format_type` prints it. */
  type: string;
  /** The source column's type is not built into Postgres (an enum, a domain, an extension's type): staged as text. */
  asText: boolean;
}

/** Types below this OID are built into every Postgres; others (enums, domains, extensions) may not exist in the warehouse. */
const FIRST_NORMAL_OBJECT_ID = 16384;

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

export function isIntegerType(type: string): boolean {
  return INTEGER_TYPES.has(type);
}

/** The columns of a table in catalog order, or undefined when there is no such table. */
export async function readColumns(
  db: pg.Pool | pg.PoolClient,
  schema: string,
  table: string,
): Promise<StagedColumn[] | undefined> {
  const { rows } = await db.query<{ name: string; type: string; oid: number }>(
    `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.atttypid::int as oid
       from pg_attribute a
       join pg_class c on c.oid = a.attrelid
       join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p', 'v', 'm', 'f')
        and a.attnum > 0 and not a.attisdropped
      order by a.attnum`,
    [schema, table],
  );
  if (rows.length === 0) {
    const exists = await db.query(
      `select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2`,
      [schema, table],
    );
    if (exists.rowCount === 0) return undefined;
  }
  return rows.map((row) =>
    row.oid >= FIRST_NORMAL_OBJECT_ID
      ? { name: row.name, type: 'text', asText: true }
      : { name: row.name, type: row.type, asText: false },
  );
}

/**
 * What is wrong with a table of a source definition, given the columns the source has (undefined: no
 * such table), as `source add` reports it: the table missing, or a key, cursor or listed column it lacks.
 * `where` names the table's schema or database.
 */
export function tableProblems(
  table: SourceTable,
  columns: StagedColumn[] | undefined,
  where: string,
): string[] {
  if (!columns) return [`table ${where}.${table.name} does not exist`];
  const names = new Set(columns.map((c) => c.name));
  return [...table.primaryKey, ...(table.cursor ? [table.cursor] : []), ...(table.columns ?? [])]
    .filter((column) => !names.has(column))
    .map((column) => `table ${table.name} has no column ${column}`);
}

export interface SchemaComparison {
  /** The columns to stage, as the source has them now. */
  columns: StagedColumn[];
  /** Source columns the staged copy does not have yet: added to it, and the table is reloaded in full. */
  added: StagedColumn[];
  /** Staged columns the definition no longer takes (they are still in the source): dropped from the copy. */
  unlisted: string[];
}

/**
 * Compares a source table with its staged copy. A column added at the source is handled (staged and
 * reloaded); a column dropped or retyped at the source stops the run naming the table and column,
 * because the mapping may use it and the staged copy would silently go stale.
 */
export function compareSchemas(options: {
  sourceName: string;
  table: SourceTable;
  sourceColumns: StagedColumn[];
  stagedColumns: StagedColumn[] | undefined;
}): SchemaComparison {
  const { sourceName, table, sourceColumns, stagedColumns } = options;
  const where = `Source ${sourceName}, table ${table.name}`;
  const byName = new Map(sourceColumns.map((c) => [c.name, c]));
  const needed = [
    ...new Set([...(table.columns ?? []), ...table.primaryKey, ...(table.cursor ? [table.cursor] : [])]),
  ];
  for (const name of needed)
    if (!byName.has(name))
      throw permanent(
        'SourceSchemaChanged',
        `${where}: the source has no column "${name}", which the source definition names. Columns now: ${sourceColumns.map((c) => c.name).join(', ')}.`,
        { source: sourceName, table: table.name, column: name, change: 'missing' },
      );
  const columns = table.columns
    ? sourceColumns.filter((c) => table.columns!.includes(c.name))
    : sourceColumns;
  if (!stagedColumns) return { columns, added: [], unlisted: [] };

  const staged = new Map(stagedColumns.map((c) => [c.name, c]));
  for (const column of stagedColumns) {
    const now = byName.get(column.name);
    if (!now)
      throw permanent(
        'SourceSchemaChanged',
        `${where}: column "${column.name}" (${column.type}) was dropped at the source, but the staged copy ${'staging_' + sourceName}.${table.name} and perhaps the mapping still use it. ` +
          `Nothing was loaded. If the mapping does not need it, run "cartflow source reset ${sourceName} ${table.name}" to reload the table with its current columns; otherwise restore the column at the source.`,
        { source: sourceName, table: table.name, column: column.name, change: 'dropped' },
      );
    if (now.type !== column.type && columns.some((c) => c.name === column.name))
      throw permanent(
        'SourceSchemaChanged',
        `${where}: column "${column.name}" changed type from ${column.type} to ${now.type} at the source. ` +
          `Nothing was loaded. Check that the mapping still holds, then run "cartflow source reset ${sourceName} ${table.name}" to reload the table.`,
        {
          source: sourceName,
          table: table.name,
          column: column.name,
          change: 'retyped',
          from: column.type,
          to: now.type,
        },
      );
  }
  const added = columns.filter((c) => !staged.has(c.name));
  const unlisted = stagedColumns.filter((c) => !columns.some((k) => k.name === c.name)).map((c) => c.name);
  return { columns, added, unlisted };
}

/**
 * A staged table is three relations in `staging_<source>`:
 * - `<table>`: the rows as of the last full load or compaction, one per key of the source;
 * - `<table>__changes`: rows changed since, appended by incremental loads, each with the load's
 *   transaction as `cartflow_seq` (so an incremental load costs what changed, not what is there);
 * - `<table>__current`: a view of the current copy — the table overlaid with the latest change of each
 *   key. The transform reads it (under the table's own name); so should anyone reading staging.
 * Once the changes grow past a share of the table, a load folds them in (`compactChanges`).
 */
export const changesTable = (table: string) => `${table}__changes`;
export const currentView = (table: string) => `${table}__current`;

/** The view of the current copy: the table's rows whose key has no change, and the latest change of each key. */
function currentViewSql(schema: string, table: SourceTable, columns: StagedColumn[]): string {
  const names = columns.map((c) => ident(c.name)).join(', ');
  const key = table.primaryKey.map(ident).join(', ');
  const matches = table.primaryKey.map((k) => `c.${ident(k)} = b.${ident(k)}`).join(' and ');
  return `
    create view ${qualified(schema, currentView(table.name))} as
    select ${columns.map((c) => `b.${ident(c.name)}`).join(', ')}
      from ${qualified(schema, table.name)} b
     where not exists (select 1 from ${qualified(schema, changesTable(table.name))} c where ${matches})
    union all
    select ${names}
      from (select distinct on (${key}) ${names} from ${qualified(schema, changesTable(table.name))}
             order by ${key}, cartflow_seq desc) latest`;
}

/** Creates the staged copy of a table, or brings its columns in line with the comparison. */
export async function applyStagingSchema(
  client: pg.PoolClient,
  schema: string,
  table: SourceTable,
  comparison: SchemaComparison,
  exists: boolean,
): Promise<void> {
  const target = qualified(schema, table.name);
  const changes = qualified(schema, changesTable(table.name));
  await client.query(`create schema if not exists ${ident(schema)}`);
  const view = qualified(schema, currentView(table.name));
  const unchanged =
    exists &&
    comparison.added.length === 0 &&
    comparison.unlisted.length === 0 &&
    (await client.query<{ v: string | null }>(`select to_regclass($1)::text as v`, [view])).rows[0].v !==
      null;
  if (unchanged) return;
  await client.query(`drop view if exists ${view}`);
  if (!exists) {
    const columns = comparison.columns.map((c) => `${ident(c.name)} ${c.type}`);
    // Without a key, a full load fills it faster; it adds one only when the source does not keep the key
    // unique itself (extract-load.ts, the dialect's enforcesKey).
    await client.query(`create table ${target} (${columns.join(', ')})`);
  } else {
    for (const column of comparison.added)
      await client.query(`alter table ${target} add column ${ident(column.name)} ${column.type}`);
    for (const name of comparison.unlisted)
      await client.query(`alter table ${target} drop column ${ident(name)}`);
  }
  // The changes table follows the table's columns (created for tables staged before it existed, too).
  const changeColumns = await readColumns(client, schema, changesTable(table.name));
  if (!changeColumns) {
    await client.query(
      `create table ${changes} (like ${target}, cartflow_seq bigint not null default pg_current_xact_id()::text::bigint)`,
    );
  } else {
    for (const column of comparison.columns)
      if (!changeColumns.some((c) => c.name === column.name))
        await client.query(`alter table ${changes} add column ${ident(column.name)} ${column.type}`);
    for (const column of changeColumns)
      if (column.name !== 'cartflow_seq' && !comparison.columns.some((c) => c.name === column.name))
        await client.query(`alter table ${changes} drop column ${ident(column.name)}`);
  }
  await client.query(currentViewSql(schema, table, comparison.columns));
}

/**
 * Folds the changes into the table: each changed key's row replaced by its latest change, then the
 * changes emptied. Rewrites the pages the changes touch, so it runs only once they are many.
 */
export async function compactChanges(
  client: pg.PoolClient,
  schema: string,
  table: SourceTable,
  columns: StagedColumn[],
) {
  const target = qualified(schema, table.name);
  const changes = qualified(schema, changesTable(table.name));
  const names = columns.map((c) => ident(c.name)).join(', ');
  const key = table.primaryKey.map(ident).join(', ');
  const matches = table.primaryKey.map((k) => `c.${ident(k)} = b.${ident(k)}`).join(' and ');
  await client.query(
    `delete from ${target} b using (select distinct ${key} from ${changes}) c where ${matches}`,
  );
  const { rowCount } = await client.query(
    `insert into ${target} (${names})
     select ${names} from (select distinct on (${key}) ${names} from ${changes} order by ${key}, cartflow_seq desc) latest`,
  );
  await client.query(`truncate ${changes}`);
  await client.query(`analyze ${target}`);
  return rowCount ?? 0;
}

/** The select list that reads the staged columns from the source, casting types the warehouse lacks to text. */
export function sourceSelectList(columns: StagedColumn[]): string {
  return columns.map((c) => (c.asText ? `${ident(c.name)}::text` : ident(c.name))).join(', ');
}

/**
 * Serialises, until the transaction ends, everything that changes one source table's staging state —
 * a load's chunks marking the full load complete, a schema change — whichever kind of source it is.
 */
export const lockStagedTable = (client: pg.PoolClient, source: string, table: string) =>
  advisoryLock(client, LOCKS.extract(source, table));

/**
 * Records one committed batch of a full load's chunk — where its next batch starts, or that it is done,
 * and the rows it loaded — in the batch's transaction. When the chunk is done and it was the last of its
 * generation still loading, completes the full load there too, under the table's lock, so that two
 * chunks finishing together cannot both see the other unfinished. True when this call completed it.
 */
export async function recordChunkBatch(
  client: pg.PoolClient,
  batch: {
    source: string;
    table: string;
    generation: number;
    chunkNo: number;
    /** Where the chunk's next batch starts; null when this batch ended it. */
    next: string | null;
    /** The end of the chunk's key range (null for a chunk without one), kept as its position when done. */
    rangeEnd: string | null;
    loaded: number;
  },
): Promise<boolean> {
  const { source, table, generation, chunkNo, next, loaded } = batch;
  await client.query(
    `update ops.extract_chunks set next_lo = $5, done = $6, rows_loaded = rows_loaded + $7, updated_at = now()
      where source = $1 and table_name = $2 and generation = $3 and chunk_no = $4`,
    [source, table, generation, chunkNo, next ?? batch.rangeEnd, next === null, loaded],
  );
  if (next !== null) return false;
  await lockStagedTable(client, source, table);
  const completed = await client.query(
    `update ops.extract_state s
        set full_complete = true, full_fresh = false, checkpoint_cursor = s.full_upper, checkpoint_pk = null,
            updated_at = now()
      where s.source = $1 and s.table_name = $2 and s.generation = $3
        and not exists (select 1 from ops.extract_chunks c
                         where c.source = $1 and c.table_name = $2 and c.generation = $3 and not c.done)`,
    [source, table, generation],
  );
  return completed.rowCount === 1;
}
