/**
 * MySQL and MariaDB as sources, with the same extract-load as Postgres sources (extract-load.ts):
 * the same staged copies in `staging_<source>`, the same checkpoints in `ops.extract_state` and
 * chunks in `ops.extract_chunks`, committed in the same transaction as the rows they cover. Only the
 * reading differs: rows stream from MySQL (`query().stream()`, with back-pressure) and are written
 * into the warehouse with `COPY … FROM STDIN` in text format; column types are translated once, from
 * `information_schema`, into the Postgres types the staged copy gets.
 */
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import mysql from 'mysql2';
import type pg from 'pg';
import { inTransaction } from '../../lib/db';
import { CopyWriter } from '../imports/copy';
import { failure, permanent } from '../pipeline-errors';
import {
  applyStagingSchema,
  compareSchemas,
  isIntegerType,
  lockStagedTable,
  recordChunkBatch,
  type StagedColumn,
} from './catalog';
import type { ExtractSizes, LoadResult, TablePlan } from './extract-load';
import { ident, qualified } from './identifiers';

export const MYSQL_DEFAULT_SIZES: Required<ExtractSizes> = { chunkRows: 1_000_000, batchRows: 250_000 };

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

/** Heartbeats when running as an activity (and notices cancellation); a no-op when called directly. */
function beat(details: Record<string, unknown>): void {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return;
  }
  context.heartbeat(details);
  if (context.cancellationSignal.aborted) throw new CancelledFailure('The load was cancelled');
}

function lastHeartbeat(): unknown {
  try {
    return Context.current().info.heartbeatDetails;
  } catch {
    return undefined;
  }
}

/**
 * Streams `select` (with `params`) from MySQL into `target` in the warehouse with COPY; returns the
 * rows copied. The rows pass through one at a time; none is held.
 */
async function copyFromMysql(options: {
  pool: mysql.Pool;
  warehouse: pg.PoolClient;
  select: string;
  params: unknown[];
  target: string;
  columns: MysqlColumn[];
}): Promise<{ rows: number; last: Record<string, unknown> | undefined }> {
  const writer = new CopyWriter(
    options.warehouse,
    options.target,
    options.columns.map((c) => ident(c.name)),
  );
  const connection = await new Promise<mysql.PoolConnection>((resolve, reject) =>
    options.pool.getConnection((error, conn) => (error ? reject(error) : resolve(conn))),
  );
  let last: Record<string, unknown> | undefined;
  try {
    const stream = connection.query(options.select, options.params).stream({ highWaterMark: 1000 });
    try {
      for await (const row of stream as AsyncIterable<Record<string, unknown>>) {
        await writer.write(options.columns.map((c) => mysqlValueText(row[c.name], c)));
        last = row;
      }
    } catch (error) {
      await writer.abort(error as Error);
      throw error;
    }
    return { rows: await writer.end(), last };
  } finally {
    connection.release();
  }
}

interface StateRow {
  columns: MysqlColumn[];
  generation: number;
  full_complete: boolean;
  checkpoint_cursor: string | null;
  checkpoint_pk: string[] | null;
}

const textOf = (value: unknown): string | null =>
  value === null || value === undefined
    ? null
    : Buffer.isBuffer(value)
      ? value.toString('utf8')
      : String(value);

/**
 * The extract-load of MySQL sources: `planExtract`, `loadChunk` and `loadIncremental` with the
 * signatures and bookkeeping of the Postgres ones, so the daily pipeline runs them the same way.
 */
export function createMysqlExtract({ warehouse, pools }: { warehouse: pg.Pool; pools: MysqlPools }) {
  async function columnsOf(source: MysqlSource, table: string): Promise<MysqlColumn[]> {
    const database = MysqlPools.databaseOf(source);
    const columns = await readMysqlColumns(pools.get(source), database, table).catch((error) =>
      failure(error, `Reading the columns of ${source.name}.${table}`, { side: 'source' }),
    );
    if (!columns)
      throw permanent(
        'InvalidSourceDefinition',
        `Source ${source.name} has no table "${table}" in MySQL database "${database}".`,
      );
    return columns;
  }

  function tableOf(source: MysqlSource, name: string) {
    const table = source.tables.find((t) => t.name === name);
    if (!table)
      throw permanent(
        'InvalidSourceDefinition',
        `Source ${source.name} has no table ${name} in its definition.`,
      );
    return table;
  }

  const from = (source: MysqlSource, table: string) =>
    `${mysqlIdent(MysqlPools.databaseOf(source))}.${mysqlIdent(table)}`;
  const selectList = (columns: MysqlColumn[]) => columns.map((c) => mysqlIdent(c.name)).join(', ');

  async function keyStats(source: MysqlSource, table: string, key: string) {
    const [row] = await mysqlQuery<{ n: number | string; lo: unknown; hi: unknown }>(
      pools.get(source),
      `select count(*) as n, min(${mysqlIdent(key)}) as lo, max(${mysqlIdent(key)}) as hi from ${from(source, table)}`,
    );
    return { rows: Number(row.n), min: textOf(row.lo), max: textOf(row.hi) };
  }

  return {
    async planExtract(source: MysqlSource, sizesIn: ExtractSizes = {}): Promise<TablePlan[]> {
      const sizes = { ...MYSQL_DEFAULT_SIZES, ...sizesIn };
      const plans: TablePlan[] = [];
      for (const table of source.tables) {
        const sourceColumns = await columnsOf(source, table.name);
        const plan = await inTransaction(warehouse, async (client) => {
          await lockStagedTable(client, source.name, table.name);
          const schema = `staging_${source.name}`;
          const { rows: stagedRows } = await client.query<{ columns: MysqlColumn[] }>(
            `select columns from ops.extract_state where source = $1 and table_name = $2`,
            [source.name, table.name],
          );
          const exists = (
            await client.query(`select to_regclass($1) is not null as e`, [qualified(schema, table.name)])
          ).rows[0].e as boolean;
          const staged = exists ? stagedRows[0]?.columns : undefined;
          const comparison = compareSchemas({
            sourceName: source.name,
            table,
            sourceColumns,
            stagedColumns: staged,
          });
          await applyStagingSchema(client, schema, table, comparison, staged !== undefined, true);
          const columns = comparison.columns as MysqlColumn[];
          const notes: string[] = [];
          for (const column of comparison.added)
            notes.push(
              `column ${column.name} (${column.type}) added at the source: staged, and the table reloaded in full`,
            );
          for (const name of comparison.unlisted)
            notes.push(`column ${name} no longer taken: dropped from staging`);

          const { rows: stateRows } = await client.query<StateRow>(
            `select columns, generation, full_complete, checkpoint_cursor, checkpoint_pk
               from ops.extract_state where source = $1 and table_name = $2 for update`,
            [source.name, table.name],
          );
          let state = stateRows[0];
          if (!state || !staged) {
            await client.query(
              `insert into ops.extract_state (source, table_name, columns) values ($1, $2, $3)
               on conflict (source, table_name) do update set columns = excluded.columns, full_complete = false,
                 checkpoint_cursor = null, checkpoint_pk = null, updated_at = now()`,
              [source.name, table.name, JSON.stringify(columns)],
            );
            state = {
              columns,
              generation: state?.generation ?? 0,
              full_complete: false,
              checkpoint_cursor: null,
              checkpoint_pk: null,
            };
          } else {
            const reload = comparison.added.length > 0;
            await client.query(
              `update ops.extract_state set columns = $3, full_complete = full_complete and not $4, updated_at = now()
                where source = $1 and table_name = $2`,
              [source.name, table.name, JSON.stringify(columns), reload],
            );
            if (reload) state.full_complete = false;
          }
          const base = { source: source.name, table: table.name, generation: state.generation, notes };

          if (table.cursor && state.full_complete) {
            const [row] = await mysqlQuery<{ up_to: unknown; newer: number | null }>(
              pools.get(source),
              `select max(${mysqlIdent(table.cursor)}) as up_to, max(${mysqlIdent(table.cursor)}) > ? as newer from ${from(source, table.name)}`,
              [state.checkpoint_cursor],
            );
            const upTo = textOf(row.up_to);
            const pending =
              upTo !== null &&
              (state.checkpoint_cursor === null || Number(row.newer) === 1 || state.checkpoint_pk !== null);
            return {
              ...base,
              mode: pending ? 'incremental' : 'unchanged',
              chunks: [],
              step: null,
              upTo: pending ? upTo : null,
            } as TablePlan;
          }

          // A full load: resume an interrupted one, or start a new generation.
          if (!state.full_complete && state.generation > 0 && notes.length === 0) {
            const { rows } = await client.query<{ chunk_no: number }>(
              `select chunk_no from ops.extract_chunks
                where source = $1 and table_name = $2 and generation = $3 and not done order by chunk_no`,
              [source.name, table.name, state.generation],
            );
            if (rows.length > 0) {
              notes.push(
                `resumed the full load of generation ${state.generation}: ${rows.length} chunk(s) left`,
              );
              const stats = await keyStats(source, table.name, table.primaryKey[0]);
              return {
                ...base,
                mode: 'full',
                chunks: rows.map((r) => r.chunk_no),
                step: stepFor(columns, table.primaryKey[0], stats, sizes),
                upTo: null,
              } as TablePlan;
            }
          }
          const generation = state.generation + 1;
          const fullUpper = table.cursor
            ? textOf(
                (
                  await mysqlQuery<{ up_to: unknown }>(
                    pools.get(source),
                    `select max(${mysqlIdent(table.cursor)}) as up_to from ${from(source, table.name)}`,
                  )
                )[0].up_to,
              )
            : null;
          const key = table.primaryKey[0];
          const stats = await keyStats(source, table.name, key);
          const ranges = splitRanges(columns, key, stats, sizes);
          await client.query(
            `insert into ops.extract_chunks (source, table_name, generation, chunk_no, lo, hi, range_start, range_end)
             select $1, $2, $3, n - 1, v->>'lo', v->>'hi', v->>'start', v->>'end'
               from jsonb_array_elements($4::jsonb) with ordinality as c(v, n)`,
            [source.name, table.name, generation, JSON.stringify(ranges)],
          );
          await client.query(
            `update ops.extract_state set generation = $3, full_complete = false, full_upper = $4, updated_at = now()
              where source = $1 and table_name = $2`,
            [source.name, table.name, generation, fullUpper],
          );
          await client.query(
            `delete from ops.extract_chunks where source = $1 and table_name = $2 and generation < $3 - 1`,
            [source.name, table.name, generation],
          );
          return {
            ...base,
            generation,
            mode: 'full',
            chunks: ranges.map((_, i) => i),
            step: stepFor(columns, key, stats, sizes),
            upTo: null,
          } as TablePlan;
        });
        plans.push(plan);
        beat({ planned: plans.length });
      }
      return plans;
    },

    /** One chunk of a full load, batch by batch, each batch committed with its progress (as for Postgres). */
    async loadChunk(
      source: MysqlSource,
      input: { table: string; generation: number; chunkNo: number; step: string | null },
    ): Promise<LoadResult & { rowsThisAttempt: number }> {
      const table = tableOf(source, input.table);
      const target = qualified(`staging_${source.name}`, table.name);
      const key = table.primaryKey[0];
      const resumedFrom = lastHeartbeat();
      let rows = 0;
      let total = 0;
      let batches = 0;
      let resumed = false;
      for (;;) {
        const outcome = await inTransaction(warehouse, async (client) => {
          const { rows: found } = await client.query<{
            lo: string | null;
            hi: string | null;
            range_start: string | null;
            range_end: string | null;
            next_lo: string | null;
            done: boolean;
            rows_loaded: number;
          }>(
            `select lo, hi, range_start, range_end, next_lo, done, rows_loaded from ops.extract_chunks
              where source = $1 and table_name = $2 and generation = $3 and chunk_no = $4 for update`,
            [source.name, table.name, input.generation, input.chunkNo],
          );
          const chunk = found[0];
          if (!chunk || chunk.done) return { finished: true, loaded: 0, total: chunk?.rows_loaded ?? 0 };
          if (batches === 0 && chunk.next_lo !== null) resumed = true;
          const { rows: stateRows } = await client.query<{ columns: MysqlColumn[] }>(
            `select columns from ops.extract_state where source = $1 and table_name = $2`,
            [source.name, table.name],
          );
          const columns = stateRows[0].columns;
          let lower: string | null;
          let upper: string | null;
          let next: string | null;
          if (chunk.range_start === null || chunk.range_end === null || input.step === null) {
            lower = chunk.lo;
            upper = chunk.hi;
            next = null;
          } else {
            const start = BigInt(chunk.next_lo ?? chunk.range_start);
            const end = BigInt(chunk.range_end);
            const stop = start + BigInt(input.step) < end ? start + BigInt(input.step) : end;
            lower = chunk.next_lo === null ? chunk.lo : start.toString();
            upper = stop >= end ? chunk.hi : stop.toString();
            next = stop >= end ? null : stop.toString();
          }
          const pgBounds: string[] = [];
          const myBounds: string[] = [];
          const params: unknown[] = [];
          if (lower !== null) {
            pgBounds.push(`${ident(key)} >= ${pgLiteral(lower)}`);
            myBounds.push(`${mysqlIdent(key)} >= ?`);
            params.push(lower);
          }
          if (upper !== null) {
            pgBounds.push(`${ident(key)} < ${pgLiteral(upper)}`);
            myBounds.push(`${mysqlIdent(key)} < ?`);
            params.push(upper);
          }
          await client.query(
            `delete from ${target}${pgBounds.length ? ` where ${pgBounds.join(' and ')}` : ''}`,
          );
          const { rows: loaded } = await copyFromMysql({
            pool: pools.get(source),
            warehouse: client,
            select: `select ${selectList(columns)} from ${from(source, table.name)}${myBounds.length ? ` where ${myBounds.join(' and ')}` : ''}`,
            params,
            target,
            columns,
          }).catch((error) =>
            failure(error, `Loading ${source.name}.${table.name} chunk ${input.chunkNo}`, {
              side: 'source',
              type: 'SourceSchemaChanged',
            }),
          );
          const finished = next === null;
          await recordChunkBatch(client, {
            source: source.name,
            table: table.name,
            generation: input.generation,
            chunkNo: input.chunkNo,
            next,
            rangeEnd: chunk.range_end,
            loaded,
          });
          return { finished, loaded, total: chunk.rows_loaded + loaded, next };
        });
        rows += outcome.loaded;
        total = outcome.total;
        if (outcome.loaded > 0 || !outcome.finished) batches++;
        if (outcome.finished) break;
        beat({ chunk: input.chunkNo, rows: total, resumedFrom: resumedFrom ?? null });
      }
      return { source: source.name, table: table.name, rows: total, rowsThisAttempt: rows, batches, resumed };
    },

    /**
     * The rows changed since the checkpoint, up to `upTo`, in (cursor, key) order and in batches; each
     * batch is upserted into the staged copy together with the checkpoint after its last row.
     */
    async loadIncremental(
      source: MysqlSource,
      input: { table: string; upTo: string; batchRows?: number },
    ): Promise<LoadResult & { rowsThisAttempt: number }> {
      const table = tableOf(source, input.table);
      if (!table.cursor)
        throw permanent('InvalidInput', `${source.name}.${table.name} has no cursor column.`);
      const cursor = table.cursor;
      const target = qualified(`staging_${source.name}`, table.name);
      const batchRows = input.batchRows ?? MYSQL_DEFAULT_SIZES.batchRows;
      const resumed = lastHeartbeat() !== undefined;
      let rows = 0;
      let batches = 0;
      for (;;) {
        const outcome = await inTransaction(warehouse, async (client) => {
          await lockStagedTable(client, source.name, table.name);
          const { rows: stateRows } = await client.query<StateRow>(
            `select columns, checkpoint_cursor, checkpoint_pk, full_complete from ops.extract_state
              where source = $1 and table_name = $2`,
            [source.name, table.name],
          );
          const state = stateRows[0];
          if (!state?.full_complete)
            throw permanent(
              'InvalidInput',
              `${source.name}.${table.name} has no completed full load to build on.`,
            );
          const columns = state.columns;
          const c = state.checkpoint_cursor;
          const conditions = [`${mysqlIdent(cursor)} <= ?`];
          const params: unknown[] = [input.upTo];
          if (c !== null && state.checkpoint_pk === null) {
            conditions.push(`${mysqlIdent(cursor)} > ?`);
            params.push(c);
          }
          if (c !== null && state.checkpoint_pk !== null) {
            const left = [cursor, ...table.primaryKey].map(mysqlIdent).join(', ');
            conditions.push(
              `${mysqlIdent(cursor)} >= ?`,
              `(${left}) > (${[c, ...state.checkpoint_pk].map(() => '?').join(', ')})`,
            );
            params.push(c, c, ...state.checkpoint_pk);
          }
          const order = [cursor, ...table.primaryKey].map(mysqlIdent).join(', ');
          await client.query(`create temp table cartflow_batch (like ${target}) on commit drop`);
          const { rows: loaded, last } = await copyFromMysql({
            pool: pools.get(source),
            warehouse: client,
            select: `select ${selectList(columns)} from ${from(source, table.name)} where ${conditions.join(' and ')} order by ${order} limit ${Number(batchRows)}`,
            params,
            target: 'cartflow_batch',
            columns,
          }).catch((error) =>
            failure(error, `Loading the changes of ${source.name}.${table.name}`, {
              side: 'source',
              type: 'SourceSchemaChanged',
            }),
          );
          const names = columns.map((col) => ident(col.name)).join(', ');
          if (loaded > 0) {
            const updates = columns
              .filter((col) => !table.primaryKey.includes(col.name))
              .map((col) => `${ident(col.name)} = excluded.${ident(col.name)}`);
            await client.query(
              `insert into ${target} (${names}) select ${names} from cartflow_batch
               on conflict (${table.primaryKey.map(ident).join(', ')}) do ${updates.length > 0 ? `update set ${updates.join(', ')}` : 'nothing'}`,
            );
          }
          const finished = loaded < batchRows;
          let checkpoint: { cursor: string; pk: string[] | null };
          if (finished) checkpoint = { cursor: input.upTo, pk: null };
          else {
            // After the batch's last row, as MySQL printed it (the stream was in cursor, key order).
            checkpoint = {
              cursor: textOf(last![cursor])!,
              pk: table.primaryKey.map((k) => textOf(last![k])!),
            };
          }
          await client.query(
            `update ops.extract_state set checkpoint_cursor = $3, checkpoint_pk = $4, updated_at = now()
              where source = $1 and table_name = $2`,
            [
              source.name,
              table.name,
              checkpoint.cursor,
              checkpoint.pk === null ? null : JSON.stringify(checkpoint.pk),
            ],
          );
          return { finished, loaded, checkpoint };
        });
        rows += outcome.loaded;
        batches++;
        if (outcome.finished) break;
        beat({ rows, checkpoint: outcome.checkpoint });
      }
      return { source: source.name, table: table.name, rows, rowsThisAttempt: rows, batches, resumed };
    },

    /** Rows per table at the source now, for reconciliation against the staged copies. */
    async countRows(source: MysqlSource): Promise<Record<string, number>> {
      const counts: Record<string, number> = {};
      for (const table of source.tables) {
        const [row] = await mysqlQuery<{ n: number | string }>(
          pools.get(source),
          `select count(*) as n from ${from(source, table.name)}`,
        );
        counts[table.name] = Number(row.n);
      }
      return counts;
    },
  };
}

const pgLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** Integer keys: values per batch for about `batchRows` rows. Other keys: one batch. */
function stepFor(
  columns: StagedColumn[],
  key: string,
  stats: { rows: number; min: string | null; max: string | null },
  sizes: Required<ExtractSizes>,
): string | null {
  const type = columns.find((c) => c.name === key)?.type ?? 'text';
  if (!isIntegerType(type) || stats.min === null || stats.max === null) return null;
  const span = BigInt(stats.max) - BigInt(stats.min) + 1n;
  const perRow = Number(span) / Math.max(1, stats.rows);
  return BigInt(Math.max(1, Math.ceil(sizes.batchRows * perRow))).toString();
}

/** Chunks of about `chunkRows` rows on an integer key, the first and last open-ended; else one chunk. */
function splitRanges(
  columns: StagedColumn[],
  key: string,
  stats: { rows: number; min: string | null; max: string | null },
  sizes: Required<ExtractSizes>,
): { lo: string | null; hi: string | null; start: string | null; end: string | null }[] {
  const type = columns.find((c) => c.name === key)?.type ?? 'text';
  const single = [{ lo: null, hi: null, start: null, end: null }];
  if (!isIntegerType(type) || stats.min === null || stats.max === null) return single;
  const min = BigInt(stats.min);
  const max = BigInt(stats.max);
  const span = max - min + 1n;
  const count = BigInt(Math.min(256, Math.max(1, Math.ceil(stats.rows / sizes.chunkRows))));
  const width = (span + count - 1n) / count;
  const ranges: { lo: string | null; hi: string | null; start: string | null; end: string | null }[] = [];
  for (let i = 0n; i < count; i++) {
    const start = min + i * width;
    if (start > max) break;
    ranges.push({
      lo: i === 0n ? null : start.toString(),
      hi: null,
      start: start.toString(),
      end: (start + width).toString(),
    });
  }
  for (let i = 0; i < ranges.length - 1; i++) ranges[i].hi = ranges[i].end;
  return ranges;
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
    if (!columns) {
      problems.push(`table ${database}.${table.name} does not exist`);
      continue;
    }
    const names = new Set(columns.map((c) => c.name));
    for (const column of [
      ...table.primaryKey,
      ...(table.cursor ? [table.cursor] : []),
      ...(table.columns ?? []),
    ])
      if (!names.has(column)) problems.push(`table ${table.name} has no column ${column}`);
  }
  return problems;
}
