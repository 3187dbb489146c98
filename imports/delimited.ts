import { parse, type Options as CsvOptions } from 'csv-parse';
import { Readable } from 'node:stream';
import readline from 'node:readline';
import { ImportRefused, type InputFile } from './input';

/** How to split a delimited file. Everything is optional: the delimiter and header are told from the file. */
export interface DelimitedOptions {
  /**
   * A single character or string (`,` `;` `|`), or a name: `comma`, `tab` (or `\t`), `semicolon`,
   * `pipe`, `whitespace` (runs of spaces and tabs, no quoting). Default: told from the first line.
   */
  delimiter?: string;
  /** The first line names the columns (default true). */
  header?: boolean;
  /** Column names for a file without a header row (or to rename a header's columns). */
  columns?: string[];
}

export interface DelimitedRecord {
  /** The line the record ends on, 1-based, counting the header. */
  line: number;
  values: string[];
}

export interface DelimitedReader {
  /** The columns: the header's names, the given names, or `1`, `2`, … for a file without either. */
  columns: string[];
  /** The delimiter in use (`whitespace` for runs of blanks). */
  delimiter: string;
  records: AsyncIterable<DelimitedRecord>;
}

export const WHITESPACE = 'whitespace';

const NAMED_DELIMITERS: Record<string, string> = {
  comma: ',',
  tab: '\t',
  '\\t': '\t',
  semicolon: ';',
  pipe: '|',
  space: WHITESPACE,
  spaces: WHITESPACE,
  whitespace: WHITESPACE,
};

const CANDIDATES = [',', '\t', ';', '|'];

export function resolveDelimiter(text: string): string {
  const named = NAMED_DELIMITERS[text.toLowerCase()];
  if (named) return named;
  if (text.length === 0) throw new ImportRefused('--delimiter must not be empty.');
  return text;
}

/** Counts a character outside double quotes. */
function countOutsideQuotes(line: string, char: string): number {
  let count = 0;
  let quoted = false;
  for (const c of line) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === char) count++;
  }
  return count;
}

/** The delimiter of a first line: the most frequent of `,` tab `;` `|`, else whitespace runs, else `,`. */
export function sniffDelimiter(firstLine: string): string {
  let best = { char: '', count: 0 };
  for (const char of CANDIDATES) {
    const count = countOutsideQuotes(firstLine, char);
    if (count > best.count) best = { char, count };
  }
  if (best.count > 0) return best.char;
  return /\S\s+\S/.test(firstLine.trim()) ? WHITESPACE : ',';
}

/**
 * Takes the first line off a stream without losing it: returns that line and a stream that still
 * starts at the beginning.
 */
async function peekFirstLine(stream: Readable): Promise<{ line: string; stream: Readable }> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let size = 0;
  let ended = false;
  for (;;) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    head.push(chunk);
    size += chunk.length;
    if (chunk.includes(10) || size > 4 << 20) break;
  }
  const buffer = Buffer.concat(head);
  const text = buffer.toString('utf8').replace(/^\uFEFF/, '');
  const newline = text.search(/\r?\n/);
  const line = newline < 0 ? text : text.slice(0, newline);
  async function* rest(): AsyncGenerator<Buffer> {
    if (buffer.length > 0) yield buffer;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    }
  }
  return { line, stream: Readable.from(rest(), { objectMode: false }) };
}

/**
 * Streams the records of a delimited file (CSV, TSV, any delimiter, or whitespace-separated), one
 * array of strings each, with its line number. The file is never held in memory.
 */
export async function readDelimited(
  input: InputFile,
  options: DelimitedOptions = {},
): Promise<DelimitedReader> {
  const { line: firstLine, stream } = await peekFirstLine(input.stream);
  if (firstLine.trim() === '')
    throw new ImportRefused(`${input.name}: the file is empty or starts with an empty line.`);
  const delimiter = options.delimiter ? resolveDelimiter(options.delimiter) : sniffDelimiter(firstLine);
  const header = options.header ?? true;

  const source: AsyncIterable<DelimitedRecord> =
    delimiter === WHITESPACE ? whitespaceRecords(stream) : csvRecords(stream, delimiter, input.name);
  const iterator = source[Symbol.asyncIterator]();

  let columns: string[];
  let first: DelimitedRecord | undefined;
  if (header) {
    const next = await iterator.next();
    if (next.done) throw new ImportRefused(`${input.name}: the file has no lines.`);
    const names = next.value.values.map((name) => name.trim());
    columns = options.columns && options.columns.length > 0 ? options.columns : names;
    const seen = new Set<string>();
    for (const [i, name] of columns.entries()) {
      if (name === '')
        throw new ImportRefused(`${input.name}, line 1: column ${i + 1} of the header has no name.`);
      if (seen.has(name))
        throw new ImportRefused(`${input.name}, line 1: the header names column "${name}" twice.`);
      seen.add(name);
    }
  } else {
    const next = await iterator.next();
    first = next.done ? undefined : next.value;
    const width = first?.values.length ?? 0;
    columns =
      options.columns && options.columns.length > 0
        ? options.columns
        : Array.from({ length: width }, (_, i) => String(i + 1));
  }

  async function* records(): AsyncGenerator<DelimitedRecord> {
    if (first) yield first;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { columns, delimiter, records: records() };
}

async function* csvRecords(
  stream: Readable,
  delimiter: string,
  name: string,
): AsyncGenerator<DelimitedRecord> {
  const csvOptions: CsvOptions = {
    delimiter,
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    // The line a record ends on, without the cost of csv-parse's per-record info snapshot.
    on_record: ((values: string[], context: { lines: number }) => ({
      line: context.lines,
      values,
    })) as unknown as CsvOptions['on_record'],
  };
  const parser = stream.pipe(parse(csvOptions));
  stream.on('error', (error) => parser.destroy(error));
  try {
    for await (const record of parser as AsyncIterable<DelimitedRecord>) yield record;
  } catch (error) {
    const e = error as { code?: string; lines?: number; message: string };
    if (typeof e.code === 'string' && e.code.startsWith('CSV_'))
      throw new ImportRefused(`${name}${e.lines ? `, line ${e.lines}` : ''}: ${e.message}`);
    if ((error as { code?: string }).code === 'Z_DATA_ERROR')
      throw new ImportRefused(`${name}: the gzip data is corrupt (${e.message}).`);
    throw error;
  }
}

async function* whitespaceRecords(stream: Readable): AsyncGenerator<DelimitedRecord> {
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    yield { line, values: trimmed.split(/\s+/) };
  }
}
