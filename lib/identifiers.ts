import type pg from 'pg';
import pgLib from 'pg';

/**
 * Quoting for the warehouse's SQL, and the advisory locks, once for every room (extract, transform,
 * imports, sources). A source's own quoting is its dialect's (postgres.ts, mysql.ts).
 */

/** A quoted identifier; names from configuration, files and options are never spliced in unquoted. */
export const ident = (name: string): string => pgLib.escapeIdentifier(name);

/** `"schema"."table"`. */
export const qualified = (schema: string, table: string): string => `${ident(schema)}.${ident(table)}`;

/**
 * A quoted SQL literal, cast to `type` when one is given — for the few places a value cannot be bound:
 * COPY (the bounds of an extract, with the type from the source's catalog), DDL, generated mappings.
 */
export const literal = (value: string, type?: string): string =>
  type === undefined ? pgLib.escapeLiteral(value) : `${pgLib.escapeLiteral(value)}::${type}`;

/** The names of cartflow's advisory locks: what each serialises. */
export const LOCKS = {
  /** A source table's staging state: its loads, its schema, a reset or purge. */
  extract: (source: string, table: string) => `cartflow.extract:${source}.${table}`,
  /** A source's transform into core. */
  transform: (source: string) => `cartflow.transform:${source}`,
  /** A file import into a source's staging. */
  import: (source: string) => `cartflow.import:${source}`,
};

/** Takes the advisory lock of `name` (one of LOCKS) until the transaction ends; its key is computed by Postgres. */
export const advisoryLock = (client: pg.ClientBase, name: string) =>
  client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [name]);
