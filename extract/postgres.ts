/**
 * Postgres databases as sources (the demo shop, and `{ kind: 'postgres', url }`): the source dialect
 * of the extract engine (dialect.ts). Rows stream as bytes, `COPY (select …) TO STDOUT` on the source
 * piped into the warehouse's `COPY … FROM STDIN` in the same format (binary by default): nothing is
 * parsed on the way. Column types are the source's own, except those the warehouse may lack (enums,
 * domains, extensions' types), staged as text.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { classifyPostgresError } from '../lib/pipeline-errors';
import type { SourceDefinition } from '../sources/definition';
import { SourcePools } from '../sources/registry';
import { readColumns, type StagedColumn } from './catalog';
import type { BatchQuery, Bound, SourceDialect } from './dialect';
import { ident, literal, qualified } from '../lib/identifiers';

/** The source dialect of a Postgres source whose tables are in `schema`, read through `pool`. */
export function postgresDialect(
  source: Pick<SourceDefinition, 'copyFormat'>,
  pool: pg.Pool,
  schema: string,
): SourceDialect {
  const from = (table: string) => qualified(schema, table);

  /** A connection for one statement (or one COPY); one whose COPY broke is dropped, not reused. */
  async function withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken = false;
    try {
      return await work(client);
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  const typeOf = (columns: StagedColumn[], name: string) =>
    columns.find((c) => c.name === name)?.type ?? 'text';
  const condition = (bound: Bound, columns: StagedColumn[]) => {
    const values = bound.values.map((v, i) => literal(v, typeOf(columns, bound.columns[i])));
    return bound.columns.length === 1
      ? `${ident(bound.columns[0])} ${bound.op} ${values[0]}`
      : `(${bound.columns.map(ident).join(', ')}) ${bound.op} (${values.join(', ')})`;
  };
  /** COPY takes no bind parameters: the bounds are literals cast to the columns' own types. */
  const selectOf = (query: BatchQuery) =>
    `select ${query.columns.map((c) => (c.asText ? `${ident(c.name)}::text` : ident(c.name))).join(', ')}` +
    ` from ${from(query.table)}` +
    (query.where.length > 0
      ? ` where ${query.where.map((b) => condition(b, query.columns)).join(' and ')}`
      : '') +
    (query.orderBy ? ` order by ${query.orderBy.map(ident).join(', ')}` : '') +
    (query.limit !== undefined ? ` limit ${Number(query.limit)}` : '');

  return {
    where: `schema "${schema}"`,

    columns: (table) => withClient((client) => readColumns(client, schema, table)),

    keyStats: (table, key) =>
      withClient(async (client) => {
        const { rows } = await client.query<{ estimate: number; min: string | null; max: string | null }>(
          `select (select reltuples::bigint from pg_class where oid = $1::regclass) as estimate,
                  min(${ident(key)})::text as min, max(${ident(key)})::text as max
             from ${from(table)}`,
          [from(table)],
        );
        let estimate = Number(rows[0].estimate);
        // Never analysed: count.
        if (estimate < 0)
          estimate = Number(
            (await client.query<{ n: string }>(`select count(*) as n from ${from(table)}`)).rows[0].n,
          );
        return { rows: estimate, min: rows[0].min, max: rows[0].max };
      }),

    maxCursor: (table, cursor, above) =>
      withClient(async (client) => {
        const { rows } = await client.query<{ up_to: string | null; newer: boolean | null }>(
          `select max(${ident(cursor.name)})::text as up_to,
                  max(${ident(cursor.name)}) > ${above === null ? 'null' : literal(above, cursor.type)} as newer
             from ${from(table)}`,
        );
        return { upTo: rows[0].up_to, newer: rows[0].newer === true };
      }),

    enforcesKey: (table, key) =>
      withClient(async (client) => {
        const { rows } = await client.query<{ enforced: boolean }>(
          `select exists (
             select 1 from pg_index i
              where i.indrelid = $1::regclass and i.indisunique and i.indpred is null and i.indexprs is null
                and (select array_agg(a.attname::text order by a.attname::text collate "C") from pg_attribute a
                      where a.attrelid = i.indrelid
                        and a.attnum = any((i.indkey::int2[])[0:i.indnkeyatts - 1])) = $2::text[]
           ) as enforced`,
          [from(table), [...key].sort()],
        );
        return rows[0].enforced;
      }),

    copyBatch: (query, into) =>
      withClient(async (client) => {
        const format = source.copyFormat ?? 'binary';
        const out = client.query(copyTo(`copy (${selectOf(query)}) to stdout with (format ${format})`));
        await pipeline(out, into(format) as Writable);
      }),

    count: (table) =>
      withClient(async (client) =>
        Number((await client.query<{ n: string }>(`select count(*) as n from ${from(table)}`)).rows[0].n),
      ),

    sourceText: (_column, expression) => `${expression}::text`,

    classify: classifyPostgresError,
  };
}

/** The dialect of a Postgres source from the pools the worker keeps. */
export const postgresSource = (source: SourceDefinition, pools: SourcePools): SourceDialect =>
  postgresDialect(source, pools.get(source), SourcePools.schemaOf(source));
