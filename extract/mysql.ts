/**
 * MySQL and MariaDB as sources: the source dialect of the extract engine (dialect.ts, extract-load.ts),
 * which stages them exactly as it stages Postgres sources. What is MySQL's is here: its catalog
 * (`information_schema`, each column type translated once into the Postgres type the staged copy
 * gets), its values as COPY text, its quoting, its error codes, and a row stream (`query().stream()`,
 * with back-pressure) into the warehouse's `COPY … FROM STDIN`.
 */
import mysql from 'mysql2';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { copyText } from '../lib/copy';
import { inStateTable, isNetworkError, permanent, type ErrorKind } from '../lib/pipeline-errors';
import { tableProblems, type StagedColumn } from './catalog';
import type { BatchQuery, SourceDialect } from './dialect';

/** What this module needs of a source definition whose connection is `{ kind: 'mysql', url }`. */
export interface MysqlSource {
  name: string;
  connection: { kind: 'mysql'; url: string; schema?: string };
  tables: { name: string; primaryKey: string[]; cursor?: string; columns?: string[] }[];
}

/** A staged column and how to write the MySQL value into it. */
interface MysqlColumn extends StagedColumn {
  /** MySQL's data_type (lowercase), to encode values. */
  mysqlType: string;
}

/** MySQL's quoting of an identifier. */
export const mysqlIdent = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

/**
 * The Postgres type a MySQL column is staged as. Unsigned integers get the next larger type; MySQL
 * `TIMESTAMP` (an instant) is timestamptz, `DATETIME` (a wall-clock time) timestamp; enums, sets,
 * times and spatial types are staged as text.
 */
export function postgresTypeOf(column: {
  dataType: string;
  columnType: string;
  precision: number | null;
  scale: number | null;
}): { type: string; asText: boolean } {
  const unsigned = /unsigned/i.test(column.columnType);
  switch (column.dataType.toLowerCase()) {
    case 'tinyint':
      return { type: 'smallint', asText: false };
    case 'smallint':
      return { type: unsigned ? 'integer' : 'smallint', asText: false };
    case 'mediumint':
      return { type: 'integer', asText: false };
    case 'int':
    case 'integer':
      return { type: unsigned ? 'bigint' : 'integer', asText: false };
    case 'bigint':
      return { type: unsigned ? 'numeric(20,0)' : 'bigint', asText: false };
    case 'decimal':
    case 'numeric':
      return { type: `numeric(${column.precision ?? 65},${column.scale ?? 0})`, asText: false };
    case 'float':
      return { type: 'real', asText: false };
    case 'double':
    case 'real':
      return { type: 'double precision', asText: false };
    case 'bit':
      return /^bit\(1\)$/i.test(column.columnType)
        ? { type: 'boolean', asText: false }
        : { type: 'bigint', asText: false };
    case 'year':
      return { type: 'smallint', asText: false };
    case 'date':
      return { type: 'date', asText: false };
    case 'datetime':
      return { type: 'timestamp without time zone', asText: false };
    case 'timestamp':
      return { type: 'timestamp with time zone', asText: false };
    case 'json':
      return { type: 'jsonb', asText: false };
    case 'binary':
    case 'varbinary':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
      return { type: 'bytea', asText: false };
    case 'char':
    case 'varchar':
    case 'tinytext':
    case 'text':
    case 'mediumtext':
    case 'longtext':
      return { type: 'text', asText: false };
    default:
      // enum, set, time, geometry…: text keeps every value.
      return { type: 'text', asText: true };
  }
}

/** A MySQL value (as mysql2 returns it with dateStrings and bigNumberStrings) as COPY text for its staged type. */
export function mysqlValueText(value: unknown, column: MysqlColumn): string | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) {
    if (column.type === 'boolean') return value.some((b) => b !== 0) ? 't' : 'f';
    if (column.type === 'bigint') return BigInt(`0x${value.toString('hex') || '0'}`).toString();
    if (column.type === 'bytea') return `\\x${value.toString('hex')}`;
    return value.toString('utf8');
  }
  if (typeof value === 'string') {
    // MySQL's zero dates are no dates: staged as null.
    if (
      (column.mysqlType === 'date' || column.mysqlType === 'datetime' || column.mysqlType === 'timestamp') &&
      value.startsWith('0000-00-00')
    )
      return null;
    if (column.mysqlType === 'timestamp') return `${value}+00`;
    return value;
  }
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  return JSON.stringify(value);
}

/** One connection pool per MySQL URL, opened on first use. */
export class MysqlPools {
  private readonly pools = new Map<string, mysql.Pool>();

  get(source: MysqlSource): mysql.Pool {
    const url = source.connection.url;
    let pool = this.pools.get(url);
    if (!pool) {
      pool = mysql.createPool({
        uri: url,
        connectionLimit: 8,
        // Values exactly as MySQL prints them: no JavaScript Date or float rounding on the way.
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
        decimalNumbers: false,
        timezone: 'Z',
      });
      // TIMESTAMP values in UTC, so they are staged as the instants they are.
      pool.on('connection', (connection) => connection.query(`set time_zone = '+00:00'`));
      this.pools.set(url, pool);
    }
    return pool;
  }

  /** The database the source's tables are in: `connection.schema`, else the URL's. */
  static databaseOf(source: MysqlSource): string {
    if (source.connection.schema) return source.connection.schema;
    const database = decodeURIComponent(new URL(source.connection.url).pathname.replace(/^\//, ''));
    if (!database)
      throw permanent(
        'InvalidSourceDefinition',
        `Source ${source.name}: the MySQL URL names no database (mysql://user:pass@host/database).`,
      );
    return database;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.promise().end()));
    this.pools.clear();
  }
}

async function mysqlQuery<T>(pool: mysql.Pool, sql: string, params: unknown[] = []): Promise<T[]> {
  const [rows] = await pool.promise().query(sql, params);
  return rows as T[];
}

/** The columns of a MySQL table, in order, as they are staged; undefined when there is no such table. */
export async function readMysqlColumns(
  pool: mysql.Pool,
  database: string,
  table: string,
): Promise<MysqlColumn[] | undefined> {
  const rows = await mysqlQuery<{
    name: string;
    data_type: string;
    column_type: string;
    num_precision: number | null;
    num_scale: number | null;
  }>(
    pool,
    `select column_name as name, data_type as data_type, column_type as column_type,
            numeric_precision as num_precision, numeric_scale as num_scale
       from information_schema.columns where table_schema = ? and table_name = ? order by ordinal_position`,
    [database, table],
  );
  if (rows.length === 0) return undefined;
  return rows.map((row) => {
    const { type, asText } = postgresTypeOf({
      dataType: row.data_type,
      columnType: row.column_type,
      precision: row.num_precision === null ? null : Number(row.num_precision),
      scale: row.num_scale === null ? null : Number(row.num_scale),
    });
    return { name: row.name, type, asText, mysqlType: row.data_type.toLowerCase() };
  });
}

/**
 * MySQL's error codes worth retrying, as data: mysql2 puts the SQLSTATE in `sqlState` and MySQL's own
 * error number in `errno` (its `code` is a name such as `ER_NO_SUCH_TABLE`). Class 08 and the errnos of
 * a lost connection mean the server cannot be reached; the others are transient; any other error the
 * server reports is permanent.
 */
const MYSQL_UNREACHABLE: { sqlStates: Record<string, string>; errnos: Record<number, string> } = {
  sqlStates: {
    '08': 'connection exception (08S01: communication link failure, 08004: too many connections)',
  },
  errnos: {
    1053: 'server shutdown in progress',
    1927: 'connection was killed (MariaDB)',
    2002: "can't connect through the socket",
    2003: "can't connect to the server",
    2006: 'server has gone away',
    2013: 'lost connection during query',
  },
};
const MYSQL_TRANSIENT: { sqlStates: Record<string, string>; errnos: Record<number, string> } = {
  sqlStates: { '40001': 'deadlock found (ER_LOCK_DEADLOCK)' },
  errnos: {
    1040: 'too many connections',
    1205: 'lock wait timeout exceeded',
    1213: 'deadlock found',
    1317: 'query execution was interrupted',
    3024: 'query execution was interrupted: maximum statement execution time exceeded',
  },
};
/** mysql2's own codes (no SQLSTATE) for a connection that broke or could not be made. */
const MYSQL_CLIENT_UNREACHABLE = new Set(['PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT']);

/** How an error from a MySQL source is retried (pipeline-errors.ts, ErrorKind). */
export function classifyMysqlError(error: unknown): ErrorKind {
  const { sqlState, errno, code } = (error ?? {}) as { sqlState?: unknown; errno?: unknown; code?: unknown };
  const inTable = (table: { sqlStates: Record<string, string>; errnos: Record<number, string> }) =>
    (typeof sqlState === 'string' && inStateTable(table.sqlStates, sqlState)) ||
    (typeof errno === 'number' && errno in table.errnos);
  if (inTable(MYSQL_UNREACHABLE)) return 'unreachable';
  if (typeof code === 'string' && MYSQL_CLIENT_UNREACHABLE.has(code)) return 'unreachable';
  if (isNetworkError(error)) return 'unreachable';
  if (inTable(MYSQL_TRANSIENT)) return 'transient';
  if (typeof sqlState === 'string' && /^[0-9A-Z]{5}$/.test(sqlState)) return 'permanent';
  return 'unknown';
}

/** A value MySQL returned (with dateStrings and bigNumberStrings) as text. */
const textOf = (value: unknown): string | null =>
  value === null || value === undefined
    ? null
    : Buffer.isBuffer(value)
      ? value.toString('utf8')
      : String(value);

/** Staged types whose values are written into MySQL statements as integers, not strings compared as doubles. */
const INTEGER_STAGED = /^(smallint|integer|bigint|numeric\(20,0\))$/;

/** Encodes MySQL rows (arrays, in the columns' order) as lines of COPY text, in chunks of about 64 kB. */
function copyTextEncoder(columns: MysqlColumn[]): Transform {
  let chunk = '';
  return new Transform({
    writableObjectMode: true,
    transform(row: unknown[], _encoding, done) {
      let line = copyText(mysqlValueText(row[0], columns[0]));
      for (let i = 1; i < columns.length; i++) line += '\t' + copyText(mysqlValueText(row[i], columns[i]));
      chunk += line + '\n';
      if (chunk.length >= 64 * 1024) {
        this.push(chunk);
        chunk = '';
      }
      done();
    },
    flush(done) {
      if (chunk.length > 0) this.push(chunk);
      done();
    },
  });
}

/**
 * The source dialect of a MySQL or MariaDB source (dialect.ts). Rows stream from MySQL
 * (`query().stream()`, with back-pressure) and are written into the warehouse's `COPY … FROM STDIN` in
 * text format; bounds are bound parameters (integers written as integers).
 */
export function mysqlDialect(source: MysqlSource, pools: MysqlPools): SourceDialect {
  const pool = () => pools.get(source);
  const database = MysqlPools.databaseOf(source);
  const from = (table: string) => `${mysqlIdent(database)}.${mysqlIdent(table)}`;
  const typeOf = (columns: StagedColumn[], name: string) =>
    columns.find((c) => c.name === name)?.type ?? 'text';

  const selectOf = (query: BatchQuery): { sql: string; params: unknown[] } => {
    const params: unknown[] = [];
    const value = (v: string, column: string) => {
      if (INTEGER_STAGED.test(typeOf(query.columns, column)) && /^-?\d+$/.test(v)) return v;
      params.push(v);
      return '?';
    };
    const conditions = query.where.map((b) => {
      const values = b.values.map((v, i) => value(v, b.columns[i]));
      return b.columns.length === 1
        ? `${mysqlIdent(b.columns[0])} ${b.op} ${values[0]}`
        : `(${b.columns.map(mysqlIdent).join(', ')}) ${b.op} (${values.join(', ')})`;
    });
    const sql =
      `select ${query.columns.map((c) => mysqlIdent(c.name)).join(', ')} from ${from(query.table)}` +
      (conditions.length > 0 ? ` where ${conditions.join(' and ')}` : '') +
      (query.orderBy ? ` order by ${query.orderBy.map(mysqlIdent).join(', ')}` : '') +
      (query.limit !== undefined ? ` limit ${Number(query.limit)}` : '');
    return { sql, params };
  };

  return {
    where: `MySQL database "${database}"`,

    columns: (table) => readMysqlColumns(pool(), database, table),

    async keyStats(table, key) {
      const [row] = await mysqlQuery<{ n: number | string; lo: unknown; hi: unknown }>(
        pool(),
        `select count(*) as n, min(${mysqlIdent(key)}) as lo, max(${mysqlIdent(key)}) as hi from ${from(table)}`,
      );
      return { rows: Number(row.n), min: textOf(row.lo), max: textOf(row.hi) };
    },

    async maxCursor(table, cursor, above) {
      const [row] = await mysqlQuery<{ up_to: unknown; newer: number | string | null }>(
        pool(),
        `select max(${mysqlIdent(cursor.name)}) as up_to, max(${mysqlIdent(cursor.name)}) > ? as newer from ${from(table)}`,
        [above],
      );
      return { upTo: textOf(row.up_to), newer: Number(row.newer) === 1 };
    },

    async enforcesKey(table, key) {
      // A unique index (or the primary key) on exactly the key's columns; MySQL indexes have no predicates.
      const rows = await mysqlQuery<{ columns: string }>(
        pool(),
        `select group_concat(column_name order by column_name separator ',') as columns
           from information_schema.statistics
          where table_schema = ? and table_name = ? and non_unique = 0 and sub_part is null
          group by index_name`,
        [database, table],
      );
      const wanted = [...key].sort().join(',');
      return rows.some((r) => textOf(r.columns) === wanted);
    },

    async copyBatch(query, into) {
      const { sql, params } = selectOf(query);
      const connection = await new Promise<mysql.PoolConnection>((resolve, reject) =>
        pool().getConnection((error, conn) => (error ? reject(error) : resolve(conn))),
      );
      let broken = false;
      try {
        await pipeline(
          // Rows as arrays in the select's order: no object per row.
          connection.query({ sql, values: params, rowsAsArray: true }).stream({ highWaterMark: 1000 }),
          copyTextEncoder(query.columns as MysqlColumn[]),
          into('text'),
        );
      } catch (error) {
        broken = true;
        throw error;
      } finally {
        // A connection whose result was cut off mid-stream is not reused.
        if (broken) connection.destroy();
        else connection.release();
      }
    },

    async count(table) {
      const [row] = await mysqlQuery<{ n: number | string }>(
        pool(),
        `select count(*) as n from ${from(table)}`,
      );
      return Number(row.n);
    },

    sourceText(column, expression) {
      // Staged as timestamptz with an explicit +00 (mysqlValueText): MySQL's TIMESTAMP notation is UTC without it.
      if (column.type === 'timestamp with time zone')
        return `to_char(${expression} at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`;
      if (column.type === 'boolean') return `(${expression})::int::text`;
      return `${expression}::text`;
    },

    classify: classifyMysqlError,
  };
}

/**
 * Checks a MySQL source definition against its database before it is registered: every table exists
 * with its key, cursor and listed columns. (Its mapping is Postgres SQL over the staged copies, so it
 * is checked by the first run.) Returns the problems found; none means good to register.
 */
export async function checkMysqlSource(
  source: MysqlSource,
  pools: MysqlPools = new MysqlPools(),
): Promise<string[]> {
  const problems: string[] = [];
  const database = MysqlPools.databaseOf(source);
  for (const table of source.tables) {
    let columns: MysqlColumn[] | undefined;
    try {
      columns = await readMysqlColumns(pools.get(source), database, table.name);
    } catch (error) {
      throw new Error(`Cannot reach source ${source.name}: ${(error as Error).message}`, { cause: error });
    }
    problems.push(...tableProblems(table, columns, database));
  }
  return problems;
}
