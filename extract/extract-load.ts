/**
 * The extract engine: every source table into its staged copy in `staging_<source>`, whatever database
 * the source is. Planning, chunks, batches, checkpoints, heartbeats, staging, and completing a full
 * load under the table's lock are written here once; what differs between databases — reading their
 * catalog, their key statistics, streaming a batch, quoting, classifying their errors — is a dialect
 * (dialect.ts; postgres.ts, mysql.ts), chosen by the source's connection kind (`dialectFor`).
 *
 * The bookkeeping is in the warehouse, in the transaction of the rows it covers: `ops.extract_state`
 * (a table's staged columns, its full-load generation and its incremental checkpoint) and
 * `ops.extract_chunks` (each chunk of a full load and where its next batch starts).
 */
import { Context, log } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { Writable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { inTransaction } from '../lib/db';
import type { SourceDefinition, SourceTable } from '../sources/definition';
import { stagingSchema } from '../sources/definition';
import { findSource, type SourcePools } from '../sources/registry';
import { failure, permanent, type PipelineErrorType } from '../lib/pipeline-errors';
import {
  applyStagingSchema,
  changesTable,
  compactChanges,
  compareSchemas,
  isIntegerType,
  lockStagedTable,
  readColumns,
  recordChunkBatch,
  type StagedColumn,
} from './catalog';
import type { BatchQuery, Bound, SourceDialect } from './dialect';
import { ident, literal, qualified } from '../lib/identifiers';
import { mysqlDialect, MysqlPools, type MysqlSource } from './mysql';
import {
  batchStep,
  DEFAULT_SIZES,
  nextBatch,
  splitIntoChunks,
  type ExtractSizes,
  type LoadResult,
  type TablePlan,
} from '../contracts/extract-plan';
import { postgresSource } from './postgres';

export { DEFAULT_SIZES, type ExtractSizes, type LoadResult, type TablePlan } from '../contracts/extract-plan';

export interface ExtractLoadDeps {
  warehouse: pg.Pool;
  pools: SourcePools;
  mysqlPools?: MysqlPools;
}

/** The dialect for each kind of source connection that has tables to extract. */
export function dialectFor(
  source: SourceDefinition,
  pools: { postgres: SourcePools; mysql: MysqlPools },
): SourceDialect {
  switch (source.connection.kind) {
    case 'postgres':
    case 'demo-shop':
      return postgresSource(source, pools.postgres);
    case 'mysql':
      return mysqlDialect(source as MysqlSource, pools.mysql);
    case 'files':
      throw permanent(
        'InvalidInput',
        `Source ${source.name} is staged by "cartflow import": it has nothing to extract.`,
      );
  }
}

interface StateRow {
  columns: StagedColumn[];
  generation: number;
  full_complete: boolean;
  full_upper: string | null;
  checkpoint_cursor: string | null;
  checkpoint_pk: string[] | null;
}

function tableOf(source: SourceDefinition, name: string): SourceTable {
  const table = source.tables.find((t) => t.name === name);
  if (!table)
    throw permanent(
      'InvalidSourceDefinition',
      `Source ${source.name} has no table ${name} in its definition.`,
    );
  return table;
}

function columnOf(columns: StagedColumn[], name: string): StagedColumn {
  const column = columns.find((c) => c.name === name);
  if (!column) throw permanent('SourceSchemaChanged', `The staged columns have no "${name}".`);
  return column;
}

/**
 * Runs `work` heartbeating every two seconds with its latest progress, so a worker that dies is noticed
 * within the heartbeat timeout however long one batch takes. `report` records progress and throws
 * when the activity was cancelled (the workflow gave up on it).
 */
async function withHeartbeat<T>(
  work: (report: (progress: Record<string, unknown>) => void) => Promise<T>,
): Promise<T> {
  const context = Context.current();
  let progress: Record<string, unknown> = {};
  const timer = setInterval(() => context.heartbeat(progress), 2000);
  try {
    return await work((next) => {
      progress = next;
      context.heartbeat(progress);
      if (context.cancellationSignal.aborted) throw new CancelledFailure('The load was cancelled');
    });
  } finally {
    clearInterval(timer);
  }
}

/** Rows of the last heartbeat an earlier attempt of this activity sent, if any. */
function lastHeartbeat(): Record<string, unknown> | undefined {
  return Context.current().info.heartbeatDetails as Record<string, unknown> | undefined;
}

/** The index `indexStagedKeys` gives a staged table on its key; a full load drops it and loads without it. */
const keyIndexName = (table: string) => `${table}__key`;

/** `key >= lower and key < upper` on the first key column, either end open when null. */
const keyBounds = (key: string, lower: string | null, upper: string | null): Bound[] => [
  ...(lower !== null ? [{ columns: [key], op: '>=' as const, values: [lower] }] : []),
  ...(upper !== null ? [{ columns: [key], op: '<' as const, values: [upper] }] : []),
];

/** Streams a batch from the source into `target` with COPY, in the dialect's format; returns the rows taken. */
async function copyBatchInto(
  dialect: SourceDialect,
  client: pg.PoolClient,
  query: BatchQuery,
  target: string,
): Promise<number> {
  let sink: ReturnType<typeof copyFrom> | undefined;
  await dialect.copyBatch(query, (format) => {
    sink = client.query(
      copyFrom(
        `copy ${target} (${query.columns.map((c) => ident(c.name)).join(', ')}) from stdin with (format ${format})`,
      ),
    );
    return sink as Writable;
  });
  return sink!.rowCount;
}

export function createExtractLoadActivities({ warehouse, pools, mysqlPools }: ExtractLoadDeps) {
  const connections = { postgres: pools, mysql: mysqlPools ?? new MysqlPools() };

  const sourceNamed = (name: string) =>
    findSource(warehouse, name).catch((error) =>
      failure(error, `Reading source ${name}`, { type: 'InvalidSourceDefinition' }),
    );

  /**
   * Runs a call to the source, classifying what it throws by the source's own codes: a source that
   * cannot be reached says so (retried as `SourceUnreachable`), a permanent error becomes `type`.
   */
  async function atSource<T>(
    source: SourceDefinition,
    dialect: SourceDialect,
    doing: string,
    work: () => Promise<T>,
    type?: PipelineErrorType,
  ): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const unreachable = dialect.classify(error) === 'unreachable';
      failure(error, unreachable ? `Cannot reach source ${source.name} (${doing})` : doing, {
        side: 'source',
        type,
        classify: dialect.classify,
      });
    }
  }

  /** Plans one table under its lock: stage its schema, then decide full, incremental or unchanged. */
  async function planTable(
    source: SourceDefinition,
    dialect: SourceDialect,
    table: SourceTable,
    sizes: Required<ExtractSizes>,
  ): Promise<TablePlan> {
    const schema = stagingSchema(source.name);
    const sourceColumns = await atSource(
      source,
      dialect,
      `Reading the columns of ${source.name}.${table.name}`,
      () => dialect.columns(table.name),
    );
    if (!sourceColumns)
      throw permanent(
        'InvalidSourceDefinition',
        `Source ${source.name} has no table "${table.name}" in ${dialect.where}.`,
      );
    const fromSource = <T>(doing: string, work: () => Promise<T>) =>
      atSource(source, dialect, `${doing} of ${source.name}.${table.name}`, work);
    const key = table.primaryKey[0];
    return inTransaction(warehouse, async (client) => {
      await lockStagedTable(client, source.name, table.name);
      const staged = await readColumns(client, schema, table.name);
      const comparison = compareSchemas({
        sourceName: source.name,
        table,
        sourceColumns,
        stagedColumns: staged,
      });
      await applyStagingSchema(client, schema, table, comparison, staged !== undefined);
      const notes: string[] = [];
      for (const column of comparison.added)
        notes.push(
          `column ${column.name} (${column.type}) added at the source: staged, and the table reloaded in full`,
        );
      for (const name of comparison.unlisted)
        notes.push(`column ${name} no longer taken: dropped from staging`);

      const { rows: stateRows } = await client.query<StateRow>(
        `select columns, generation, full_complete, full_upper, checkpoint_cursor, checkpoint_pk
           from ops.extract_state where source = $1 and table_name = $2 for update`,
        [source.name, table.name],
      );
      let state = stateRows[0];
      if (!state || !staged) {
        await client.query(
          `insert into ops.extract_state (source, table_name, columns) values ($1, $2, $3)
           on conflict (source, table_name) do update set columns = excluded.columns, full_complete = false,
             checkpoint_cursor = null, checkpoint_pk = null, updated_at = now()`,
          [source.name, table.name, JSON.stringify(comparison.columns)],
        );
        state = {
          columns: comparison.columns,
          generation: state?.generation ?? 0,
          full_complete: false,
          full_upper: null,
          checkpoint_cursor: null,
          checkpoint_pk: null,
        };
      } else {
        const reload = comparison.added.length > 0;
        await client.query(
          `update ops.extract_state set columns = $3, full_complete = full_complete and not $4, updated_at = now()
            where source = $1 and table_name = $2`,
          [source.name, table.name, JSON.stringify(comparison.columns), reload],
        );
        if (reload) state.full_complete = false;
      }
      const columns = comparison.columns;
      const plan = { source: source.name, table: table.name, generation: state.generation, notes };
      const integerKey = isIntegerType(columnOf(columns, key).type);

      if (table.cursor && state.full_complete) {
        const checkpoint = state.checkpoint_cursor;
        const cursor = columnOf(columns, table.cursor);
        const { upTo, newer } = await fromSource('Reading the cursor', () =>
          dialect.maxCursor(table.name, cursor, checkpoint),
        );
        const pending = upTo !== null && (checkpoint === null || newer || state.checkpoint_pk !== null);
        return {
          ...plan,
          mode: pending ? 'incremental' : 'unchanged',
          chunks: [],
          step: null,
          upTo: pending ? upTo : null,
        };
      }

      // A full load: resume the generation an interrupted run left, or start a new one.
      if (!state.full_complete && state.generation > 0 && notes.length === 0) {
        const { rows } = await client.query<{ chunk_no: number; done: boolean }>(
          `select chunk_no, done from ops.extract_chunks
            where source = $1 and table_name = $2 and generation = $3 order by chunk_no`,
          [source.name, table.name, state.generation],
        );
        const left = rows.filter((r) => !r.done).map((r) => r.chunk_no);
        if (rows.length > 0 && left.length === 0 && table.cursor) {
          // Every chunk is loaded but the load was not marked complete: complete it now.
          await client.query(
            `update ops.extract_state set full_complete = true, full_fresh = false, checkpoint_cursor = full_upper,
                    checkpoint_pk = null, updated_at = now() where source = $1 and table_name = $2`,
            [source.name, table.name],
          );
          notes.push(`completed the full load of generation ${state.generation}`);
          return { ...plan, mode: 'unchanged', chunks: [], step: null, upTo: null };
        }
        if (left.length > 0) {
          notes.push(`resumed the full load of generation ${state.generation}: ${left.length} chunk(s) left`);
          const stats = await fromSource('Reading the key statistics', () =>
            dialect.keyStats(table.name, key, columns),
          );
          return {
            ...plan,
            mode: 'full',
            chunks: left,
            step: batchStep(stats, integerKey, sizes),
            upTo: null,
          };
        }
      }
      const generation = state.generation + 1;
      const fullUpper = table.cursor
        ? (
            await fromSource('Reading the cursor', () =>
              dialect.maxCursor(table.name, columnOf(columns, table.cursor!), null),
            )
          ).upTo
        : null;
      const stats = await fromSource('Reading the key statistics', () =>
        dialect.keyStats(table.name, key, columns),
      );
      const ranges = splitIntoChunks(stats, integerKey, sizes);
      // A full load replaces the staged copy: it starts empty (core is not touched before the load
      // completes), so a batch need not clear its range first, and the table has no index to maintain
      // row by row. A key the source does not enforce is checked by a primary key built at the end.
      await client.query(
        `truncate ${qualified(schema, table.name)}, ${qualified(schema, changesTable(table.name))}`,
      );
      await dropPrimaryKey(client, schema, table.name);
      await client.query(`drop index if exists ${qualified(schema, keyIndexName(table.name))}`);
      await client.query(
        `insert into ops.extract_chunks (source, table_name, generation, chunk_no, lo, hi, range_start, range_end)
         select $1, $2, $3, c.n - 1, c.v->>'lo', c.v->>'hi', c.v->>'start', c.v->>'end'
           from jsonb_array_elements($4::jsonb) with ordinality as c(v, n)`,
        [source.name, table.name, generation, JSON.stringify(ranges)],
      );
      await client.query(
        `update ops.extract_state set generation = $3, full_complete = false, full_upper = $4, full_fresh = true,
                updated_at = now()
          where source = $1 and table_name = $2`,
        [source.name, table.name, generation, fullUpper],
      );
      // Chunks of generations before the previous one are history nobody reads again.
      await client.query(
        `delete from ops.extract_chunks where source = $1 and table_name = $2 and generation < $3 - 1`,
        [source.name, table.name, generation],
      );
      return {
        ...plan,
        mode: 'full',
        generation,
        chunks: ranges.map((_, i) => i),
        step: batchStep(stats, integerKey, sizes),
        upTo: null,
      };
    });
  }

  async function planSource(source: SourceDefinition, sizesIn: ExtractSizes = {}): Promise<TablePlan[]> {
    if (source.connection.kind === 'files') return [];
    const dialect = dialectFor(source, connections);
    const sizes = { ...DEFAULT_SIZES, ...sizesIn };
    const plans: TablePlan[] = [];
    for (const table of source.tables) {
      try {
        plans.push(await planTable(source, dialect, table, sizes));
      } catch (error) {
        failure(error, `Planning the extract of ${source.name}.${table.name}`);
      }
      Context.current().heartbeat({ planned: plans.length });
    }
    return plans;
  }

  return {
    /**
     * Gives each staged table of a source an index on its key when it has none: a full load leaves
     * its copy without one (maintaining it row by row doubles the cost of COPY), but mappings join
     * staged tables by their keys, and a correlated subquery over an unindexed copy scans it once per
     * outer row. Returns the tables it indexed, with the time each took.
     */
    async indexStagedKeys(input: { source: string }): Promise<{ table: string; ms: number }[]> {
      const source = await sourceNamed(input.source);
      const schema = stagingSchema(source.name);
      const indexed: { table: string; ms: number }[] = [];
      await withHeartbeat(async (beat) => {
        for (const table of source.tables) {
          const began = Date.now();
          const built = await inTransaction(warehouse, async (client) => {
            await lockStagedTable(client, source.name, table.name);
            if (!(await lacksKeyIndex(client, qualified(schema, table.name), table.primaryKey))) return false;
            await client.query(`select set_config('maintenance_work_mem', '512MB', true)`);
            await client.query(
              `create index ${ident(keyIndexName(table.name))} on ${qualified(schema, table.name)} (${table.primaryKey.map(ident).join(', ')})`,
            );
            return true;
          });
          if (built) indexed.push({ table: table.name, ms: Date.now() - began });
          beat({ indexed: indexed.length });
        }
      });
      return indexed;
    },

    /**
     * Plans the extract-load of every table of a source: stages each table's schema (a column added
     * at the source is added and the table reloaded; one dropped stops the run), and says per table
     * whether to load it in full (in chunks), incrementally, or not at all. A source of files
     * (`cartflow import`) has nothing to extract.
     */
    async planExtract(input: { source: string; sizes?: ExtractSizes }): Promise<TablePlan[]> {
      return planSource(await sourceNamed(input.source), input.sizes);
    },

    /**
     * Loads one chunk of a full load, batch by batch: each batch replaces its key range in the staged
     * copy and records its progress in the same transaction, so a retried attempt starts after the
     * last committed batch, and two workers on the same chunk wait for each other instead of doubling.
     */
    async loadChunk(input: {
      source: string;
      table: string;
      generation: number;
      chunkNo: number;
      step: string | null;
    }): Promise<LoadResult> {
      const source = await sourceNamed(input.source);
      const dialect = dialectFor(source, connections);
      const table = tableOf(source, input.table);
      const target = qualified(stagingSchema(source.name), table.name);
      const key = table.primaryKey[0];
      const heartbeat = lastHeartbeat();
      let rows = 0;
      let total = 0;
      let batches = 0;
      let resumed = false;
      if (heartbeat)
        log.info('Retrying a chunk load', {
          source: source.name,
          table: table.name,
          chunk: input.chunkNo,
          lastHeartbeat: heartbeat,
        });
      await withHeartbeat(async (beat) => {
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
            const { rows: stateRows } = await client.query<{
              columns: StagedColumn[];
              full_fresh: boolean;
              generation: number;
            }>(
              `select columns, full_fresh, generation from ops.extract_state where source = $1 and table_name = $2`,
              [source.name, table.name],
            );
            // Gone: the chunk completed, or a later full load of the table replaced this one.
            if (!chunk || chunk.done || stateRows[0]?.generation !== input.generation)
              return { finished: true, loaded: 0, total: chunk?.rows_loaded ?? 0 };
            if (batches === 0 && chunk.next_lo !== null) resumed = true;
            const columns = stateRows[0].columns;
            const keyType = columnOf(columns, key).type;
            const { lower, upper, next } = nextBatch(
              {
                lo: chunk.lo,
                hi: chunk.hi,
                start: chunk.range_start,
                end: chunk.range_end,
                next_lo: chunk.next_lo,
              },
              input.step,
            );
            // A fresh load's ranges are empty: a batch that did not commit left nothing behind. (Loads
            // planned before full loads started from an empty table clear their range.)
            if (!stateRows[0].full_fresh) {
              const bounds = [
                ...(lower !== null ? [`${ident(key)} >= ${literal(lower, keyType)}`] : []),
                ...(upper !== null ? [`${ident(key)} < ${literal(upper, keyType)}`] : []),
              ];
              await client.query(
                `delete from ${target}${bounds.length > 0 ? ` where ${bounds.join(' and ')}` : ''}`,
              );
            }
            const loaded = await atSource(
              source,
              dialect,
              `Loading ${source.name}.${table.name} chunk ${input.chunkNo}`,
              () =>
                copyBatchInto(
                  dialect,
                  client,
                  { table: table.name, columns, where: keyBounds(key, lower, upper) },
                  target,
                ),
              'SourceSchemaChanged',
            );
            const finished = next === null;
            const completedFullLoad = await recordChunkBatch(client, {
              source: source.name,
              table: table.name,
              generation: input.generation,
              chunkNo: input.chunkNo,
              next,
              rangeEnd: chunk.range_end,
              loaded,
            });
            if (completedFullLoad) {
              const keyEnforced = await atSource(
                source,
                dialect,
                `Reading the unique indexes of ${source.name}.${table.name}`,
                () => dialect.enforcesKey(table.name, table.primaryKey),
              );
              if (!keyEnforced) {
                // A key the source declared but does not hold fails here, naming the table: never silently doubled rows.
                try {
                  // Sorting millions of keys in memory rather than in temporary files.
                  await client.query(`select set_config('maintenance_work_mem', '512MB', true)`);
                  await client.query(
                    `alter table ${target} add primary key (${table.primaryKey.map(ident).join(', ')})`,
                  );
                } catch (error) {
                  failure(
                    error,
                    `Source ${source.name}, table ${table.name}: the staged rows are not unique on the primary key (${table.primaryKey.join(', ')}) the definition declares`,
                    { type: 'InvalidSourceDefinition' },
                  );
                }
              }
              await client.query(`analyze ${target}`);
            }
            return {
              finished,
              loaded,
              progress: { chunk: input.chunkNo, nextLo: next, rows: chunk.rows_loaded + loaded },
              total: chunk.rows_loaded + loaded,
            };
          });
          rows += outcome.loaded;
          total = outcome.total;
          if (outcome.loaded > 0 || !outcome.finished) batches++;
          if (outcome.finished) break;
          beat({ ...outcome.progress, resumedFrom: heartbeat ?? null });
        }
      });
      return { source: source.name, table: table.name, rows: total, rowsThisAttempt: rows, batches, resumed };
    },

    /**
     * Loads the rows changed since the checkpoint, up to `upTo`, in (cursor, key) order and in batches;
     * each batch is appended to the table's changes together with the checkpoint after its last row.
     */
    async loadIncremental(input: {
      source: string;
      table: string;
      upTo: string;
      batchRows?: number;
    }): Promise<LoadResult> {
      const source = await sourceNamed(input.source);
      const dialect = dialectFor(source, connections);
      const table = tableOf(source, input.table);
      if (!table.cursor)
        throw permanent('InvalidInput', `${source.name}.${table.name} has no cursor column.`);
      const cursor = table.cursor;
      const schema = stagingSchema(source.name);
      const changes = qualified(schema, changesTable(table.name));
      const batchRows = input.batchRows ?? DEFAULT_SIZES.batchRows;
      const keyed = [cursor, ...table.primaryKey];
      let rows = 0;
      let batches = 0;
      const resumed = lastHeartbeat() !== undefined;
      await withHeartbeat(async (beat) => {
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
            const cursorType = columnOf(columns, cursor).type;
            const c = state.checkpoint_cursor;
            if (c !== null) {
              const upTo = literal(input.upTo, cursorType);
              const { rows: cmp } = await client.query<{ done: boolean }>(
                `select ${literal(c, cursorType)} > ${upTo} or (${literal(c, cursorType)} = ${upTo} and $1::jsonb is null) as done`,
                [state.checkpoint_pk === null ? null : JSON.stringify(state.checkpoint_pk)],
              );
              if (cmp[0].done) return { finished: true, loaded: 0 };
            }
            const where: Bound[] = [{ columns: [cursor], op: '<=', values: [input.upTo] }];
            if (c !== null && state.checkpoint_pk === null)
              where.push({ columns: [cursor], op: '>', values: [c] });
            if (c !== null && state.checkpoint_pk !== null)
              where.push(
                { columns: [cursor], op: '>=', values: [c] },
                { columns: keyed, op: '>', values: [c, ...state.checkpoint_pk] },
              );
            // Appended to the changes table, stamped with this transaction: no page of the table is touched.
            const loaded = await atSource(
              source,
              dialect,
              `Loading the changes of ${source.name}.${table.name}`,
              () =>
                copyBatchInto(
                  dialect,
                  client,
                  { table: table.name, columns, where, orderBy: keyed, limit: batchRows },
                  changes,
                ),
              'SourceSchemaChanged',
            );
            const finished = loaded < batchRows;
            let checkpoint: { cursor: string; pk: string[] | null };
            if (finished) checkpoint = { cursor: input.upTo, pk: null };
            else {
              // After the batch's last row, in the source's own notation.
              const text = (name: string) => dialect.sourceText(columnOf(columns, name), ident(name));
              const { rows: last } = await client.query<{ c: string; pk: string[] }>(
                `select ${text(cursor)} as c, array[${table.primaryKey.map(text).join(', ')}] as pk
                 from ${changes} where cartflow_seq = pg_current_xact_id()::text::bigint
                 order by ${keyed.map((k) => `${ident(k)} desc`).join(', ')} limit 1`,
              );
              checkpoint = { cursor: last[0].c, pk: last[0].pk };
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
        // Once the changes are a tenth of the table, fold them in: the view stays cheap to read.
        await inTransaction(warehouse, async (client) => {
          await lockStagedTable(client, source.name, table.name);
          const { rows: sizes } = await client.query<{ changes: number; rows: number }>(
            `select (select count(*) from ${changes})::bigint as changes,
                    greatest((select reltuples from pg_class where oid = $1::regclass), 0)::bigint as rows`,
            [qualified(schema, table.name)],
          );
          if (sizes[0].changes > Math.max(10_000, sizes[0].rows / 10)) {
            const { rows: stateRows } = await client.query<{ columns: StagedColumn[] }>(
              `select columns from ops.extract_state where source = $1 and table_name = $2`,
              [source.name, table.name],
            );
            const folded = await compactChanges(client, schema, table, stateRows[0].columns);
            log.info('Folded changes into the staged table', {
              source: source.name,
              table: table.name,
              folded,
            });
          } else if (rows > 0) await client.query(`analyze ${changes}`);
        });
      });
      return { source: source.name, table: table.name, rows, rowsThisAttempt: rows, batches, resumed };
    },

    /** Rows per table at the source now, for reconciliation against the staged copies. */
    async countSourceRows(source: SourceDefinition): Promise<Record<string, number>> {
      const dialect = dialectFor(source, connections);
      const counts: Record<string, number> = {};
      for (const table of source.tables)
        counts[table.name] = await atSource(
          source,
          dialect,
          `Counting the rows of ${source.name}.${table.name}`,
          () => dialect.count(table.name),
        );
      return counts;
    },

    /**
     * Whether any table of a source has rows the staged copies may not have yet (a cursor past the
     * checkpoint, an unfinished full load, no cursor to tell): read-only, unlike planning.
     */
    async sourceMoved(source: SourceDefinition): Promise<boolean> {
      const dialect = dialectFor(source, connections);
      for (const table of source.tables) {
        const { rows } = await warehouse.query<StateRow>(
          `select columns, full_complete, checkpoint_cursor, checkpoint_pk from ops.extract_state
            where source = $1 and table_name = $2`,
          [source.name, table.name],
        );
        const state = rows[0];
        if (!table.cursor || !state?.full_complete || state.checkpoint_pk !== null) return true;
        const cursor = columnOf(state.columns, table.cursor);
        const { newer } = await atSource(
          source,
          dialect,
          `Reading the cursor of ${source.name}.${table.name}`,
          () => dialect.maxCursor(table.name, cursor, state.checkpoint_cursor),
        );
        if (newer || state.checkpoint_cursor === null) return true;
      }
      return false;
    },
  };
}

/** Whether a staged table exists and has no index whose leading columns are its key, in order. */
async function lacksKeyIndex(client: pg.PoolClient, table: string, key: string[]): Promise<boolean> {
  const { rows } = await client.query<{ lacks: boolean }>(
    `select to_regclass($1) is not null and not exists (
       select 1 from pg_index i
        where i.indrelid = to_regclass($1) and i.indpred is null
          and (select array_agg(a.attname::text order by k.n)
                 from unnest((i.indkey::int2[])[0:cardinality($2::text[]) - 1]) with ordinality k(attnum, n)
                 join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum) = $2::text[]
     ) as lacks`,
    [table, key],
  );
  return rows[0].lacks;
}

/** Drops a staged table's primary key, if it has one (a load whose source does not enforce it re-adds it). */
async function dropPrimaryKey(client: pg.PoolClient, schema: string, table: string): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `select con.conname as name from pg_constraint con
       join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and con.contype = 'p'`,
    [schema, table],
  );
  for (const { name } of rows)
    await client.query(`alter table ${qualified(schema, table)} drop constraint ${ident(name)}`);
}
