import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** One value in COPY's text format: backslash, tab, newline and carriage return escaped; null as \N. */
export function copyText(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  return value.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/**
 * Writes rows into a table with `COPY … FROM STDIN` (text format), honouring back-pressure, in chunks
 * of about 256 kB. Call `write` for each row, then `end` for the number of rows the server took.
 */
export class CopyWriter {
  private readonly stream: ReturnType<typeof copyFrom>;
  private buffer: string[] = [];
  private size = 0;
  private failed: Error | undefined;
  private readonly done: Promise<void>;

  constructor(client: pg.ClientBase, table: string, columns: readonly string[]) {
    this.stream = client.query(
      copyFrom(`copy ${table} (${columns.join(', ')}) from stdin with (format text)`),
    );
    this.done = finished(this.stream).catch((error: Error) => {
      this.failed = error;
      throw error;
    });
    // Reported by write/end; an unobserved rejection in between must not crash the process.
    this.done.catch(() => undefined);
  }

  async write(values: readonly (string | null | undefined)[]): Promise<void> {
    if (this.failed) throw this.failed;
    const line = values.map(copyText).join('\t') + '\n';
    this.buffer.push(line);
    this.size += line.length;
    if (this.size >= 256 * 1024) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const chunk = this.buffer.join('');
    this.buffer = [];
    this.size = 0;
    if (!this.stream.write(chunk)) {
      await Promise.race([once(this.stream, 'drain'), this.done]);
      if (this.failed) throw this.failed;
    }
  }

  /** Gives up: the server is told the COPY failed, so the transaction can be rolled back. */
  async abort(reason: Error): Promise<void> {
    if (this.failed) return;
    this.stream.destroy(reason);
    await this.done.catch(() => undefined);
  }

  /** Sends what is left and waits for the server; returns the number of rows copied. */
  async end(): Promise<number> {
    await this.flush();
    this.stream.end();
    await this.done;
    return this.stream.rowCount;
  }
}
