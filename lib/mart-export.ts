import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

/**
 * Streams one date of a mart through `COPY … TO STDOUT`: CSV with a header, or one JSON object per
 * line (row_to_json; COPY's CSV with a quote and delimiter JSON never contains passes it unchanged).
 */
export async function exportMart(
  db: pg.Pool,
  table: string,
  asOf: string,
  format: 'csv' | 'jsonl',
  out: NodeJS.WritableStream,
): Promise<void> {
  const client = await db.connect();
  try {
    const { rows } = await client.query<{ key: string }>(
      `select a.attname as key from pg_index i
         join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
        where i.indrelid = $1::regclass and i.indisprimary`,
      [table],
    );
    const order = rows.map((r) => r.key).join(', ');
    const select = `select * from ${table} where as_of = '${asOf}'::date order by ${order}`;
    const copy =
      format === 'csv'
        ? `copy (${select}) to stdout with (format csv, header true)`
        : `copy (select row_to_json(m) from (${select}) m) to stdout with (format csv, quote e'\\x01', delimiter e'\\x02')`;
    const stream = client.query(copyTo(copy));
    const ended = out === process.stdout ? undefined : out;
    if (ended) await pipeline(stream, ended);
    else
      await new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        stream.on('end', resolve);
        stream.pipe(out, { end: false });
      });
  } finally {
    client.release();
  }
}
