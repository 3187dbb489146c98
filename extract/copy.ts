import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';

/**
 * Streams the rows of `select` on the source into `target` in the warehouse: `COPY (select) TO STDOUT`
 * piped into `COPY target FROM STDIN`, in the same format on both sides. Bytes flow through with
 * back-pressure; no row is parsed or held here. Returns the number of rows the warehouse took.
 */
export async function copyRows(options: {
  source: pg.PoolClient;
  warehouse: pg.PoolClient;
  select: string;
  target: string;
  columns: string;
  format: 'binary' | 'text';
}): Promise<number> {
  const into = options.warehouse.query(
    copyFrom(`copy ${options.target} (${options.columns}) from stdin with (format ${options.format})`),
  );
  const out = options.source.query(
    copyTo(`copy (${options.select}) to stdout with (format ${options.format})`),
  );
  await pipeline(out, into);
  return into.rowCount;
}
