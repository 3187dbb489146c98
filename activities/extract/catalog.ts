import type pg from 'pg';
import type { SourceTable } from '../sources/definition';
import { permanent } from '../pipeline-errors';
import { ident, qualified } from './identifiers';

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

/** Creates the staged copy of a table, or brings its columns in line with the comparison. */
export async function applyStagingSchema(
  client: pg.PoolClient,
  schema: string,
  table: SourceTable,
  comparison: SchemaComparison,
  exists: boolean,
): Promise<void> {
  const target = qualified(schema, table.name);
  await client.query(`create schema if not exists ${ident(schema)}`);
  if (!exists) {
    const columns = comparison.columns.map((c) => `${ident(c.name)} ${c.type}`);
    await client.query(
      `create table ${target} (${columns.join(', ')}, primary key (${table.primaryKey.map(ident).join(', ')}))`,
    );
    return;
  }
  for (const column of comparison.added)
    await client.query(`alter table ${target} add column ${ident(column.name)} ${column.type}`);
  for (const name of comparison.unlisted)
    await client.query(`alter table ${target} drop column ${ident(name)}`);
}

/** The select list that reads the staged columns from the source, casting types the warehouse lacks to text. */
export function sourceSelectList(columns: StagedColumn[]): string {
  return columns.map((c) => (c.asText ? `${ident(c.name)}::text` : ident(c.name))).join(', ');
}
