import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** A value for one field of Postgres's COPY text format. */
export type CopyValue = string | number | boolean | null;

/** COPY's text format gives these characters a backslash escape; everything else is literal. */
const SPECIAL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One field in COPY text format: `\N` for null, backslash escapes for the delimiter, newlines and backslash. */
export function copyField(value: CopyValue): string {
  if (value === null) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`Cannot COPY the number ${value}.`);
    return String(value);
  }
  return value.replace(SPECIAL, (character) => ESCAPES[character]);
}

/** One row, tab-separated and newline-terminated. */
export function copyLine(values: readonly CopyValue[]): string {
  let line = copyField(values[0]);
  for (let i = 1; i < values.length; i++) line += '\t' + copyField(values[i]);
  return line + '\n';
}

/** Integer cents as a decimal, e.g. -1999 → "-19.99", without floating-point rounding. */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const magnitude = Math.abs(cents);
  return `${sign}${Math.floor(magnitude / 100)}.${String(magnitude % 100).padStart(2, '0')}`;
}

/** Basis points as a fraction, e.g. 1500 → "0.1500" (numeric(5, 4)). */
export function formatBasisPoints(basisPoints: number): string {
  const sign = basisPoints < 0 ? '-' : '';
  const magnitude = Math.abs(basisPoints);
  return `${sign}${Math.floor(magnitude / 10_000)}.${String(magnitude % 10_000).padStart(4, '0')}`;
}

/** A simulated-clock time (epoch milliseconds) as an ISO timestamp with offset, for timestamptz. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Joins lines into chunks of about `size` characters: one stream write per chunk, not per row. */
export function* inChunks(lines: Iterable<string>, size = 256 * 1024): Generator<string> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= size) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * Streams lines into `table` with `COPY … FROM STDIN`, pulling them lazily as Postgres takes them
 * (the pipeline's backpressure). Returns the number of rows Postgres stored.
 */
export async function copyInto(
  client: pg.ClientBase,
  table: string,
  columns: readonly string[],
  lines: Iterable<string>,
): Promise<number> {
  const quote = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;
  const sql = `copy ${quote(table)} (${columns.map(quote).join(', ')}) from stdin`;
  const stream = client.query(copyFrom(sql));
  await pipeline(Readable.from(inChunks(lines)), stream);
  return stream.rowCount;
}
