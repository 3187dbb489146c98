/**
 * What the extract engine (extract-load.ts) needs of a source database, and nothing more: one
 * implementation per kind of source (postgres.ts, mysql.ts), as kysely's dialects or Cube's drivers.
 * The engine does everything else — planning, chunks, batches, checkpoints, heartbeats, staging, and
 * completing a full load under the table's lock — once, in the warehouse.
 *
 * Values cross this interface as text in the source's own notation (a key bound, a cursor
 * checkpoint): what the source printed is what it is asked about next.
 */
import type { Writable } from 'node:stream';
import type { ErrorKind } from '../lib/pipeline-errors';
import type { StagedColumn } from './catalog';
import type { KeyStats } from '../contracts/extract-plan';

export type CopyFormat = 'binary' | 'text';

/** `(columns) op (values)` on the source's rows, values as the source prints them (one column or a row value). */
export interface Bound {
  columns: string[];
  op: '>' | '>=' | '<' | '<=';
  values: string[];
}

/** One batch of one table: its staged columns, where its rows are, in which order and how many at most. */
export interface BatchQuery {
  table: string;
  columns: StagedColumn[];
  where: Bound[];
  orderBy?: string[];
  limit?: number;
}

export interface SourceDialect {
  /** For messages: where the tables are looked for, e.g. `schema "public"`. */
  readonly where: string;
  /** The table's columns in order, typed as the warehouse stages them; undefined when there is no such table. */
  columns(table: string): Promise<StagedColumn[] | undefined>;
  /** Rows (an estimate will do) and the lowest and highest value of the key's first column. */
  keyStats(table: string, key: string, columns: StagedColumn[]): Promise<KeyStats>;
  /** The highest cursor value, and whether it is above `above` (null: no checkpoint yet). */
  maxCursor(
    table: string,
    cursor: StagedColumn,
    above: string | null,
  ): Promise<{ upTo: string | null; newer: boolean }>;
  /** Whether the source itself keeps the key unique (a unique index on exactly those columns). */
  enforcesKey(table: string, key: string[]): Promise<boolean>;
  /**
   * Streams the batch's rows into `into(format)` — the warehouse's `COPY … FROM STDIN` in that
   * format — with back-pressure, holding no more than a buffer of them.
   */
  copyBatch(query: BatchQuery, into: (format: CopyFormat) => Writable): Promise<void>;
  /** Rows in the table now. */
  count(table: string): Promise<number>;
  /**
   * A warehouse SQL expression over a staged column giving its value in the source's notation, for
   * checkpoints taken from the rows just staged.
   */
  sourceText(column: StagedColumn, expression: string): string;
  /** Whether an error this source threw is worth retrying (the codes are data in the dialect's file). */
  classify(error: unknown): ErrorKind;
}
