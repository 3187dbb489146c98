import type { DelimitedReader } from './delimited';
import { copyRecords, createRowsTable, type ImportContext, type StagedRecord } from './engine';
import { ImportRefused } from './input';
import { normalizeColumnName } from './values';

/** A column an import reads, the header names it goes by, and how to name it in a message. */
export interface ColumnRole {
  role: string;
  /** Header names that mean this column, compared loosely (case, spaces and underscores ignored). */
  aliases: string[];
  required: boolean;
  /** The option that names it explicitly, for messages (e.g. `--customer`). */
  option?: string;
}

/**
 * Finds each role's column in the header: by an explicit name or 1-based number when one is given,
 * else by its aliases. Refuses naming the missing column and showing the header.
 */
export function resolveColumns(
  fileName: string,
  header: readonly string[],
  roles: readonly ColumnRole[],
  explicit: Record<string, string | undefined> = {},
): Record<string, number | undefined> {
  const byName = new Map<string, number>();
  header.forEach((name, i) => {
    const key = normalizeColumnName(name);
    if (!byName.has(key)) byName.set(key, i);
  });
  const shown = header.map((h) => `"${h}"`).join(', ');
  const found: Record<string, number | undefined> = {};
  for (const role of roles) {
    const given = explicit[role.role];
    if (given !== undefined) {
      const exact = header.indexOf(given);
      const loose = byName.get(normalizeColumnName(given));
      const position = /^\d+$/.test(given) ? Number(given) - 1 : undefined;
      const index =
        exact >= 0
          ? exact
          : (loose ??
            (position !== undefined && position >= 0 && position < header.length ? position : undefined));
      if (index === undefined)
        throw new ImportRefused(
          `${fileName}: ${role.option ?? role.role} names column "${given}", which the file does not have. ` +
            `Its columns are ${shown}${/^\d+$/.test(given) ? '' : '; a column may also be given by its number, from 1'}.`,
        );
      found[role.role] = index;
      continue;
    }
    const index = role.aliases.map((a) => byName.get(normalizeColumnName(a))).find((i) => i !== undefined);
    if (index === undefined && role.required)
      throw new ImportRefused(
        `${fileName}: no ${role.aliases[0]} column${role.aliases.length > 1 ? ` (looked for ${role.aliases.join(', ')})` : ''}. ` +
          `The header is ${shown}. ` +
          (role.option
            ? `Name it with ${role.option} COLUMN.`
            : 'If the file has no header row, pass --no-header with --columns naming every column.'),
      );
    found[role.role] = index;
  }
  return found;
}

/**
 * The records of a delimited file as rows of the import's columns: `clean` turns the picked values
 * into the staged ones (and may add some, e.g. a date's ISO text). A record with fewer fields than the
 * header, or more that are not empty, is `malformed_row` (its fields are probably shifted); it is
 * staged with its values as read, for the quarantine.
 */
export async function* pickColumns(
  reader: DelimitedReader,
  indices: readonly (number | undefined)[],
  clean: (values: (string | undefined)[], line: number) => (string | undefined)[],
): AsyncGenerator<StagedRecord> {
  const width = reader.columns.length;
  for await (const record of reader.records) {
    const values = record.values;
    const picked = indices.map((i) => (i === undefined ? undefined : values[i]));
    if (
      values.length < width ||
      (values.length > width && values.slice(width).some((v) => v.trim() !== ''))
    ) {
      yield {
        line: record.line,
        values: picked,
        rule: 'malformed_row',
        detail: `${values.length} fields where the header has ${width}: ${JSON.stringify(values).slice(0, 500)}`,
      };
      continue;
    }
    yield { line: record.line, values: clean(picked, record.line) };
  }
}

/**
 * Stages a delimited file into the import's rows table (import_rows, one text column per name of
 * `rowColumns`): the columns at `indices`, turned into the staged values by `clean` (see pickColumns).
 * Returns the records read.
 */
export async function stageDelimited(
  context: ImportContext,
  rowColumns: readonly string[],
  reader: DelimitedReader,
  indices: readonly (number | undefined)[],
  clean: (values: (string | undefined)[], line: number) => (string | undefined)[],
): Promise<number> {
  await createRowsTable(context.client, rowColumns);
  return copyRecords(context, rowColumns, pickColumns(reader, indices, clean));
}

/** A column as a message names it: its header name, or `column 3` for a file without a header. */
export function columnLabel(reader: DelimitedReader, index: number): string {
  const name = reader.columns[index];
  return /^\d+$/.test(name) ? `column ${name}` : name;
}

/** `--status-map` maps the values of the status column: refused when the file has none. */
export function refuseStatusMapWithoutColumn(
  statusMap: string | undefined,
  statusIndex: number | undefined,
): void {
  if (statusMap !== undefined && statusIndex === undefined)
    throw new ImportRefused(
      '--status-map maps the values of the --status column: name it with --status COLUMN.',
    );
}
