import { Context, log } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type pg from 'pg';
import { inTransaction } from '../../lib/db';
import type { SourceDefinition, SourceTable } from '../sources/definition';
import { stagingSchema } from '../sources/definition';
import { findSource, SourcePools } from '../sources/registry';
import { failure, permanent } from '../pipeline-errors';
import {
  applyStagingSchema,
  changesTable,
  compactChanges,
  compareSchemas,
  isIntegerType,
  lockStagedTable,
  readColumns,
  recordChunkBatch,
  sourceSelectList,
  type StagedColumn,
} from './catalog';
import { copyRows } from './copy';
import { ident, literal, qualified } from './identifiers';

export interface ExtractLoadDeps {
  warehouse: pg.Pool;
  pools: SourcePools;
}

/** How big the pieces of a load are; the defaults suit millions of rows, tests use small ones. */
export interface ExtractSizes {
  /** Rows per chunk of a full load: chunks are separate activities, so separate workers can share a table. */
  chunkRows?: number;
  /** Rows per batch: each batch commits with its checkpoint, so a retried load resumes after the last one. */
  batchRows?: number;
}

export const DEFAULT_SIZES: Required<ExtractSizes> = { chunkRows: 1_000_000, batchRows: 250_000 };

/** What one run does with one source table; small, it travels through workflow history. */
export interface TablePlan {
  source: string;
  table: string;
  /** `full`: load every row, in chunks; `incremental`: the rows changed since the checkpoint; `unchanged`: nothing to do. */
  mode: 'full' | 'incremental' | 'unchanged';
  generation: number;
  /** The chunks of a full load still to load. */
  chunks: number[];
  /** Primary-key values per batch within a chunk (integer keys only). */
  step: string | null;
  /** Incremental: the highest cursor value at planning time; rows up to it are taken. */
  upTo: string | null;
  /** Why the plan is what it is, for the run's summary (schema changes, a resumed load). */
  notes: string[];
}

export interface LoadResult {
  source: string;
  table: string;
  /** Rows the load put into staging, counting those an interrupted earlier attempt committed. */
  rows: number;
  /** Rows this attempt loaded. */
  rowsThisAttempt: number;
  batches: number;
  /** The load continued where an earlier, interrupted attempt had committed. */
  resumed: boolean;
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

function typeOf(columns: StagedColumn[], name: string): string {
  const column = columns.find((c) => c.name === name);
  if (!column) throw permanent('SourceSchemaChanged', `The staged columns have no "${name}".`);
  return column.type;
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

export function createExtractLoadActivities({ warehouse, pools }: ExtractLoadDeps) {
  async function withSourceClient<T>(
    source: SourceDefinition,
    work: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pools.get(source).connect();
    } catch (error) {
      failure(error, `Cannot reach source ${source.name}`, { side: 'source' });
    }
    let broken = false;
    try {
      return await work(client);
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      // A connection whose COPY broke may be mid-protocol: drop it rather than reuse it.
      client.release(broken);
    }
  }

  /** Plans one table under its lock: stage its schema, then decide full, incremental or unchanged. */
  async function planTable(
    source: SourceDefinition,
    table: SourceTable,
    sizes: Required<ExtractSizes>,
  ): Promise<TablePlan> {
    const schema = stagingSchema(source.name);
    const sourceSchema = SourcePools.schemaOf(source);
    return withSourceClient(source, async (src) => {
      const sourceColumns = await readColumns(src, sourceSchema, table.name).catch((error) =>
        failure(error, `Reading the columns of ${source.name}.${table.name}`, { side: 'source' }),
      );
      if (!sourceColumns)
        throw permanent(
          'InvalidSourceDefinition',
          `Source ${source.name} has no table "${table.name}" in schema "${sourceSchema}".`,
        );
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
        const from = qualified(sourceSchema, table.name);

        if (table.cursor && state.full_complete) {
          const cursorType = typeOf(columns, table.cursor);
          const checkpoint = state.checkpoint_cursor;
          const { rows } = await src.query<{ up_to: string | null; newer: boolean | null }>(
            `select max(${ident(table.cursor)})::text as up_to,
                    max(${ident(table.cursor)}) > ${checkpoint === null ? 'null' : literal(checkpoint, cursorType)} as newer
               from ${from}`,
          );
          const upTo = rows[0].up_to;
          const pending =
            upTo !== null && (checkpoint === null || rows[0].newer === true || state.checkpoint_pk !== null);
          return {
            source: source.name,
            table: table.name,
            mode: pending ? 'incremental' : 'unchanged',
            generation: state.generation,
            chunks: [],
            step: null,
            upTo: pending ? upTo : null,
            notes,
          };
        }

        // A full load: resume the generation an interrupted run left, or start a new one.
        if (!state.full_complete && state.generation > 0 && notes.length === 0) {
          const { rows } = await client.query<{ chunk_no: number }>(
            `select chunk_no from ops.extract_chunks
              where source = $1 and table_name = $2 and generation = $3 and not done order by chunk_no`,
            [source.name, table.name, state.generation],
          );
          const { rows: any } = await client.query(
            `select 1 from ops.extract_chunks where source = $1 and table_name = $2 and generation = $3 limit 1`,
            [source.name, table.name, state.generation],
          );
          if (any.length > 0 && rows.length === 0 && table.cursor) {
            // Every chunk is loaded but the load was not marked complete: complete it now.
            await client.query(
              `update ops.extract_state set full_complete = true, checkpoint_cursor = full_upper, checkpoint_pk = null,
                      updated_at = now() where source = $1 and table_name = $2`,
              [source.name, table.name],
            );
            notes.push(`completed the full load of generation ${state.generation}`);
            return {
              source: source.name,
              table: table.name,
              mode: 'unchanged',
              generation: state.generation,
              chunks: [],
              step: null,
              upTo: null,
              notes,
            };
          }
          if (any.length > 0 && rows.length > 0) {
            notes.push(
              `resumed the full load of generation ${state.generation}: ${rows.length} chunk(s) left`,
            );
            return {
              source: source.name,
              table: table.name,
              mode: 'full',
              generation: state.generation,
              chunks: rows.map((r) => r.chunk_no),
              step: await batchStep(src, from, table, columns, sizes),
              upTo: null,
              notes,
            };
          }
        }
        const generation = state.generation + 1;
        const fullUpper = table.cursor
          ? (
              await src.query<{ up_to: string | null }>(
                `select max(${ident(table.cursor)})::text as up_to from ${from}`,
              )
            ).rows[0].up_to
          : null;
        const chunks = await splitIntoChunks(src, from, table, columns, sizes);
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
          [source.name, table.name, generation, JSON.stringify(chunks.ranges)],
        );
        await client.query(
          `update ops.extract_state set generation = $3, full_complete = false, full_upper = $4, full_fresh = $5,
                  updated_at = now()
            where source = $1 and table_name = $2`,
          [source.name, table.name, generation, fullUpper, true],
        );
        // Chunks of generations before the previous one are history nobody reads again.
        await client.query(
          `delete from ops.extract_chunks where source = $1 and table_name = $2 and generation < $3 - 1`,
          [source.name, table.name, generation],
        );
        return {
          source: source.name,
          table: table.name,
          mode: 'full',
          generation,
          chunks: chunks.ranges.map((_, i) => i),
          step: chunks.step,
          upTo: null,
          notes,
        };
      });
    });
  }

  return {
    /**
     * Gives each staged table of a source an index on its key when it has none: a full load leaves
     * its copy without one (maintaining it row by row doubles the cost of COPY), but mappings join
     * staged tables by their keys, and a correlated subquery over an unindexed copy scans it once per
     * outer row. Returns the tables it indexed, with the time each took.
     */
    async indexStagedKeys(input: { source: string }): Promise<{ table: string; ms: number }[]> {
      const source = await findSource(warehouse, input.source);
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
     * whether to load it in full (in chunks), incrementally, or not at all.
     */
    async planExtract(input: { source: string; sizes?: ExtractSizes }): Promise<TablePlan[]> {
      const source = await findSource(warehouse, input.source).catch((error) =>
        failure(error, `Reading source ${input.source}`, { type: 'InvalidSourceDefinition' }),
      );
      const sizes = { ...DEFAULT_SIZES, ...input.sizes };
      const plans: TablePlan[] = [];
      for (const table of source.tables) {
        try {
          plans.push(await planTable(source, table, sizes));
        } catch (error) {
          failure(error, `Planning the extract of ${source.name}.${table.name}`, { side: 'source' });
        }
        Context.current().heartbeat({ planned: plans.length });
      }
      return plans;
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
      const source = await findSource(warehouse, input.source);
      const table = tableOf(source, input.table);
      const format = source.copyFormat ?? 'binary';
      const target = qualified(stagingSchema(source.name), table.name);
      const from = qualified(SourcePools.schemaOf(source), table.name);
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
            if (!chunk || chunk.done || stateRows[0].generation !== input.generation)
              return { finished: true, loaded: 0, total: chunk?.rows_loaded ?? 0 };
            if (batches === 0 && chunk.next_lo !== null) resumed = true;
            const columns = stateRows[0].columns;
            const keyType = typeOf(columns, key);

            // This batch's key range: [a, b), with the chunk's own open ends kept open.
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
            const bounds = [
              ...(lower !== null ? [`${ident(key)} >= ${literal(lower, keyType)}`] : []),
              ...(upper !== null ? [`${ident(key)} < ${literal(upper, keyType)}`] : []),
            ];
            const where = bounds.length > 0 ? ` where ${bounds.join(' and ')}` : '';
            // A fresh load's ranges are empty: a batch that did not commit left nothing behind. (Loads
            // planned before full loads started from an empty table clear their range.)
            const fresh = stateRows[0].full_fresh;
            if (!fresh) await client.query(`delete from ${target}${where}`);
            const loaded = await withSourceClient(source, (src) =>
              copyRows({
                source: src,
                warehouse: client,
                select: `select ${sourceSelectList(columns)} from ${from}${where}`,
                target,
                columns: columns.map((c) => ident(c.name)).join(', '),
                format,
              }),
            ).catch((error) =>
              failure(error, `Loading ${source.name}.${table.name} chunk ${input.chunkNo}`, {
                side: 'source',
                type: 'SourceSchemaChanged',
              }),
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
              const keyEnforced = await withSourceClient(source, (src) =>
                sourceEnforcesKey(src, from, table.primaryKey),
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
     * each batch is upserted into the staged copy together with the checkpoint after its last row.
     */
    async loadIncremental(input: {
      source: string;
      table: string;
      upTo: string;
      batchRows?: number;
    }): Promise<LoadResult> {
      const source = await findSource(warehouse, input.source);
      const table = tableOf(source, input.table);
      if (!table.cursor)
        throw permanent('InvalidInput', `${source.name}.${table.name} has no cursor column.`);
      const cursor = table.cursor;
      const format = source.copyFormat ?? 'binary';
      const schema = stagingSchema(source.name);
      const changes = qualified(schema, changesTable(table.name));
      const from = qualified(SourcePools.schemaOf(source), table.name);
      const batchRows = input.batchRows ?? DEFAULT_SIZES.batchRows;
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
            const cursorType = typeOf(columns, cursor);
            const keyTypes = table.primaryKey.map((k) => typeOf(columns, k));
            const c = state.checkpoint_cursor;
            const upTo = literal(input.upTo, cursorType);
            if (c !== null) {
              const { rows: cmp } = await client.query<{ done: boolean }>(
                `select ${literal(c, cursorType)} > ${upTo} or (${literal(c, cursorType)} = ${upTo} and $1::jsonb is null) as done`,
                [state.checkpoint_pk === null ? null : JSON.stringify(state.checkpoint_pk)],
              );
              if (cmp[0].done) return { finished: true, loaded: 0 };
            }
            const conditions = [`${ident(cursor)} <= ${upTo}`];
            if (c !== null && state.checkpoint_pk === null)
              conditions.push(`${ident(cursor)} > ${literal(c, cursorType)}`);
            if (c !== null && state.checkpoint_pk !== null) {
              const left = [ident(cursor), ...table.primaryKey.map(ident)].join(', ');
              const right = [
                literal(c, cursorType),
                ...state.checkpoint_pk.map((v, i) => literal(v, keyTypes[i])),
              ].join(', ');
              conditions.push(`${ident(cursor)} >= ${literal(c, cursorType)}`, `(${left}) > (${right})`);
            }
            const order = [ident(cursor), ...table.primaryKey.map(ident)].join(', ');
            const names = columns.map((col) => ident(col.name)).join(', ');
            // Appended to the changes table, stamped with this transaction: no page of the table is touched.
            const loaded = await withSourceClient(source, (src) =>
              copyRows({
                source: src,
                warehouse: client,
                select: `select ${sourceSelectList(columns)} from ${from} where ${conditions.join(' and ')} order by ${order} limit ${batchRows}`,
                target: changes,
                columns: names,
                format,
              }),
            ).catch((error) =>
              failure(error, `Loading the changes of ${source.name}.${table.name}`, {
                side: 'source',
                type: 'SourceSchemaChanged',
              }),
            );
            const finished = loaded < batchRows;
            let checkpoint: { cursor: string; pk: string[] | null };
            if (finished) checkpoint = { cursor: input.upTo, pk: null };
            else {
              const { rows: last } = await client.query<{ c: string; pk: string[] }>(
                `select ${ident(cursor)}::text as c, array[${table.primaryKey.map((k) => `${ident(k)}::text`).join(', ')}] as pk
                 from ${changes} where cartflow_seq = pg_current_xact_id()::text::bigint order by ${order
                   .split(', ')
                   .map((o) => `${o} desc`)
                   .join(', ')} limit 1`,
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
  };
}

/**
 * Whether the source itself keeps the declared key unique: a unique index (or primary key) on exactly
 * those columns, without a predicate or expressions. Then the chunks, disjoint ranges of that key,
 * cannot stage a row twice, and the staged copy needs no key of its own.
 */
async function sourceEnforcesKey(src: pg.PoolClient, from: string, primaryKey: string[]): Promise<boolean> {
  const { rows } = await src.query<{ enforced: boolean }>(
    `select exists (
       select 1 from pg_index i
        where i.indrelid = $1::regclass and i.indisunique and i.indpred is null and i.indexprs is null
          and (select array_agg(a.attname::text order by a.attname::text collate "C") from pg_attribute a
                where a.attrelid = i.indrelid
                  and a.attnum = any((i.indkey::int2[])[0:i.indnkeyatts - 1])) = $2::text[]
     ) as enforced`,
    [from, [...primaryKey].sort()],
  );
  return rows[0].enforced;
}

/** The index `indexStagedKeys` gives a staged table on its key; a full load drops it and loads without it. */
const keyIndexName = (table: string) => `${table}__key`;

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

/** Batch size in key values for a table with an integer key: about `batchRows` rows each. */
async function batchStep(
  src: pg.PoolClient,
  from: string,
  table: SourceTable,
  columns: StagedColumn[],
  sizes: Required<ExtractSizes>,
): Promise<string | null> {
  const key = table.primaryKey[0];
  if (!isIntegerType(typeOf(columns, key))) return null;
  const stats = await tableStats(src, from, key);
  if (stats.min === null || stats.max === null) return null;
  const span = BigInt(stats.max) - BigInt(stats.min) + 1n;
  const perRow = Number(span) / Math.max(1, stats.rows);
  return BigInt(Math.max(1, Math.ceil(sizes.batchRows * perRow))).toString();
}

async function tableStats(
  src: pg.PoolClient,
  from: string,
  key: string,
): Promise<{ rows: number; min: string | null; max: string | null }> {
  const { rows } = await src.query<{ estimate: number; min: string | null; max: string | null }>(
    `select (select reltuples::bigint from pg_class where oid = $1::regclass) as estimate,
            min(${ident(key)})::text as min, max(${ident(key)})::text as max
       from ${from}`,
    [from],
  );
  let estimate = rows[0].estimate;
  if (estimate < 0)
    estimate = (await src.query<{ n: number }>(`select count(*) as n from ${from}`)).rows[0].n;
  return { rows: estimate, min: rows[0].min, max: rows[0].max };
}

/**
 * Splits a table on its first key column into chunks of about `chunkRows` rows. The first and last
 * chunks are open-ended, so rows outside today's key range are still covered. A key that is not an
 * integer gives one chunk, loaded in one batch.
 */
async function splitIntoChunks(
  src: pg.PoolClient,
  from: string,
  table: SourceTable,
  columns: StagedColumn[],
  sizes: Required<ExtractSizes>,
): Promise<{
  ranges: { lo: string | null; hi: string | null; start: string | null; end: string | null }[];
  step: string | null;
}> {
  const key = table.primaryKey[0];
  const single = { ranges: [{ lo: null, hi: null, start: null, end: null }], step: null };
  if (!isIntegerType(typeOf(columns, key))) return single;
  const stats = await tableStats(src, from, key);
  if (stats.min === null || stats.max === null) return single;
  const min = BigInt(stats.min);
  const span = BigInt(stats.max) - min + 1n;
  const count = BigInt(Math.min(256, Math.max(1, Math.ceil(stats.rows / sizes.chunkRows))));
  const width = (span + count - 1n) / count;
  const ranges = [];
  for (let i = 0n; i < count; i++) {
    const start = min + i * width;
    if (start > BigInt(stats.max)) break;
    const end = start + width;
    ranges.push({
      lo: i === 0n ? null : start.toString(),
      hi: null as string | null,
      start: start.toString(),
      end: end.toString(),
    });
  }
  for (let i = 0; i < ranges.length - 1; i++) ranges[i].hi = ranges[i].end;
  const perRow = Number(span) / Math.max(1, stats.rows);
  const step = BigInt(Math.max(1, Math.ceil(sizes.batchRows * perRow))).toString();
  return { ranges, step };
}
