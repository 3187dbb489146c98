import type pg from 'pg';
import type { DuplicateLines } from '../sources/definition';
import { advisoryLock, LOCKS } from '../lib/identifiers';
import { ident, qualified } from './sql';
import { CopyWriter } from '../lib/copy';
import { ImportRefused, openInput, type InputFile, type ProgressListener } from './input';
import { SOURCE_NAME } from './values';

/** What an import needs: the warehouse, and the shop's time zone for dates that name none. */
export interface ImportDeps {
  warehouse: pg.Pool;
  /** IANA time zone; a file's dates without a zone are read as the shop's local time. */
  timezone: string;
}

export type ImportKind = 'online-retail' | 'transactions' | 'documents' | 'rees46' | 'payments';

export interface CommonImportOptions {
  file: string;
  /** The file source the rows belong to; its staged tables are in `staging_<source>`. */
  source?: string;
  /**
   * What order lines repeating another line of their order exactly mean for this source (docs/pipeline.md):
   * `quarantine`, `keep` or `sum`. Unset: as the source says already (default `quarantine`).
   */
  duplicates?: DuplicateLines;
  onProgress?: ProgressListener;
}

/** What an import did, printed by the CLI and kept in `ops.imports`. Small: counts and dates only. */
export interface ImportSummary {
  kind: ImportKind;
  source: string;
  file: string;
  sha256: string;
  bytes: number;
  /** Data records in the file (lines, or documents), without the header. */
  rowsRead: number;
  /** Records that passed the import's rules: inserted + updated + unchanged. */
  loaded: number;
  inserted: number;
  updated: number;
  /** Records already staged with the same content (a re-import). */
  unchanged: number;
  /** Records quarantined, by rule. */
  quarantined: Record<string, number>;
  /** What the kind counts: invoices, customers, cancellations, revenue, … over the loaded records. */
  facts: Record<string, number | string | null>;
  /** The first and last day in the loaded data (shop time), for `cartflow run daily --date`. */
  firstDate: string | null;
  lastDate: string | null;
  /** Where the rows went: staged tables, or the events table. */
  tables: string[];
  notes: string[];
  /** This exact file (same checksum) had been imported into this source before. */
  seenBefore: boolean;
  durationMs: number;
}

/** The part of a summary each kind computes. */
export type KindResult = Omit<
  ImportSummary,
  'kind' | 'source' | 'file' | 'sha256' | 'bytes' | 'seenBefore' | 'durationMs' | 'quarantined'
> & {
  /** Called once the file's checksum is known, inside the import's transaction. */
  afterRead?: (sha256: string) => Promise<void>;
};

export interface ImportContext {
  client: pg.PoolClient;
  input: InputFile;
  source: string;
  timezone: string;
  /** Reports progress; call with the records read so far. */
  progress(records: number): void;
}

/** Quoted `staging_<source>`. */
export const stagingSchemaOf = (source: string) => `staging_${source}`;
export const stagedTable = (source: string, table: string) => qualified(stagingSchemaOf(source), table);

/** The source's staged table `name`, created by `ddl` (and the staging schema) when missing; its qualified name. */
export async function createStagedTableOf(
  client: pg.ClientBase,
  source: string,
  name: string,
  ddl: (table: string) => string,
): Promise<string> {
  await client.query(`create schema if not exists ${ident(stagingSchemaOf(source))}`);
  const table = stagedTable(source, name);
  await client.query(ddl(table));
  return table;
}

/** The rows import_parsed refused take its rule and detail on import_rows, where the quarantine reads them. */
export async function markRefusedRows(client: pg.ClientBase): Promise<void> {
  await client.query(`
    update import_rows r set rule = p.rule, detail = p.detail
      from import_parsed p where p.line = r.line and p.rule is not null and r.rule is null`);
}

export function checkSourceName(name: string): string {
  if (!SOURCE_NAME.test(name))
    throw new ImportRefused(
      `--source must be lowercase letters, digits and underscores, starting with a letter (at most 30), not "${name}".`,
    );
  return name;
}

/**
 * Runs one import in one warehouse transaction: the kind's body streams the file into temporary
 * tables and merges it into its staged tables; here the quarantine and `ops.imports` are written and
 * everything commits together, or nothing does. Imports of the same source wait for each other.
 */
export async function runImport(
  deps: ImportDeps,
  kind: ImportKind,
  options: CommonImportOptions & { source: string },
  body: (context: ImportContext) => Promise<KindResult>,
): Promise<ImportSummary> {
  const started = Date.now();
  const source = checkSourceName(options.source);
  const input = openInput(options.file);
  const client = await deps.warehouse.connect();
  let broken = false;
  let lastReport = 0;
  const context: ImportContext = {
    client,
    input,
    source,
    timezone: deps.timezone,
    progress: (records) => {
      const now = Date.now();
      if (!options.onProgress || now - lastReport < 100) return;
      lastReport = now;
      options.onProgress({ bytesRead: input.bytesRead(), bytesTotal: input.bytesTotal, records });
    },
  };
  try {
    // Room for the temporary tables in memory; allowed only before a session's first temporary table.
    await client.query(`set temp_buffers = '256MB'`).catch(() => undefined);
    await client.query('begin');
    await client.query(`select set_config('timezone', $1, true)`, [deps.timezone]);
    await advisoryLock(client, LOCKS.import(source));
    const result = await body(context);
    const sha256 = await input.sha256;
    options.onProgress?.({
      bytesRead: input.bytesRead(),
      bytesTotal: input.bytesTotal,
      records: result.rowsRead,
    });
    await result.afterRead?.(sha256);
    const quarantine = await writeQuarantine(client, { source, kind, fileName: input.name, sha256 });
    const { rows: seen } = await client.query<{ n: number }>(
      'select count(*)::int as n from ops.imports where source = $1 and file_sha256 = $2',
      [source, sha256],
    );
    const counts = { ...result };
    delete counts.afterRead;
    const summary: ImportSummary = {
      kind,
      source,
      file: input.name,
      sha256,
      bytes: input.bytesTotal,
      ...counts,
      quarantined: quarantine.byRule,
      seenBefore: seen[0].n > 0,
      durationMs: Date.now() - started,
    };
    const changed = result.inserted + result.updated + quarantine.added > 0;
    if (changed || !summary.seenBefore) await recordImport(client, summary);
    await client.query('commit');
    return summary;
  } catch (error) {
    broken = true;
    input.stream.destroy();
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    // After a failed COPY the connection may be mid-protocol: drop it rather than reuse it.
    client.release(broken);
  }
}

/**
 * The temporary table the file's records are copied into, every value as text: `line`, the given
 * columns, and `rule`/`detail`, filled by the kind's checks for a record that breaks one. Columns
 * whose name starts with `_` are derived (e.g. a date's ISO text) and left out of quarantine records.
 */
export async function createRowsTable(
  client: pg.ClientBase,
  columns: readonly string[],
  extra = '',
): Promise<void> {
  await client.query(
    `create temp table import_rows (line bigint not null, ${columns.map((c) => `${ident(c)} text`).join(', ')},
       rule text, detail text${extra}) on commit drop`,
  );
}

export interface StagedRecord {
  line: number;
  values: readonly (string | undefined)[];
  rule?: string;
  detail?: string;
}

/** Copies records into `import_rows` as they stream; returns how many. */
export async function copyRecords(
  context: ImportContext,
  columns: readonly string[],
  records: AsyncIterable<StagedRecord>,
): Promise<number> {
  const writer = new CopyWriter(context.client, 'import_rows', [
    'line',
    ...columns.map(ident),
    'rule',
    'detail',
  ]);
  let count = 0;
  try {
    for await (const record of records) {
      const values = columns.map((_, i) => record.values[i] ?? null);
      await writer.write([String(record.line), ...values, record.rule, record.detail]);
      count++;
      if ((count & 1023) === 0) context.progress(count);
    }
  } catch (error) {
    await writer.abort(error as Error);
    throw error;
  }
  await writer.end();
  context.progress(count);
  return count;
}

/**
 * Upserts `select` (which returns `columns`) into `target` by `key`; a row whose content is the same
 * is left alone, so a re-import updates nothing. Returns how many rows were inserted and updated.
 */
/** What a merge did to the staged table, for the summary: the rows loaded, inserted, updated and left as they were. */
export function mergeCounts(loaded: number, merged: { inserted: number; updated: number }) {
  return { loaded, ...merged, unchanged: loaded - merged.inserted - merged.updated };
}

export async function mergeInto(
  client: pg.ClientBase,
  target: string,
  columns: readonly string[],
  key: readonly string[],
  select: string,
): Promise<{ inserted: number; updated: number }> {
  const others = columns.filter((c) => !key.includes(c));
  const names = columns.map(ident).join(', ');
  const update =
    others.length === 0
      ? 'do nothing'
      : `do update set ${others.map((c) => `${ident(c)} = excluded.${ident(c)}`).join(', ')}
         where (${others.map((c) => `t.${ident(c)}`).join(', ')}) is distinct from (${others.map((c) => `excluded.${ident(c)}`).join(', ')})`;
  const { rows } = await client.query<{ inserted: number; updated: number }>(
    `with merged as (
       insert into ${target} as t (${names}) ${select}
       on conflict (${key.map(ident).join(', ')}) ${update}
       returning (xmax = 0) as inserted
     )
     select count(*) filter (where inserted)::int as inserted, count(*) filter (where not inserted)::int as updated
       from merged`,
  );
  return rows[0];
}

/**
 * Every record of `import_rows` that broke a rule into `ops.quarantine`, with the rule, a detail
 * naming the file and line, and the record as read; and every row of `import_quarantine`, when the
 * kind made one (entity, natural_key, line, rule, detail, record) for parts of records. Keyed by file
 * checksum, line and record, so importing the same file again adds nothing. Returns the counts by
 * rule and how many quarantine rows are new.
 */
async function writeQuarantine(
  client: pg.ClientBase,
  options: { source: string; kind: ImportKind; fileName: string; sha256: string },
): Promise<{ byRule: Record<string, number>; added: number }> {
  const runId = `import:${options.sha256.slice(0, 16)}`;
  // Records of the file that broke a rule, and (for documents) parts of records: orders, lines, products.
  const { rows: parts } = await client.query<{ present: boolean }>(
    `select to_regclass('pg_temp.import_quarantine') is not null as present`,
  );
  const fromParts = parts[0].present
    ? `union all
       select entity, natural_key, line, rule, detail, record from import_quarantine`
    : '';
  const { rows: counts } = await client.query<{ rule: string; n: number }>(
    `select rule, count(*)::int as n from (
       select rule from import_rows where rule is not null
       ${parts[0].present ? 'union all select rule from import_quarantine' : ''}) r
      group by rule order by rule`,
  );
  if (counts.length === 0) return { byRule: {}, added: 0 };
  const { rows } = await client.query<{ added: number }>(
    `with marked as (
       select $2::text as entity, $3 || ':' || r.line as natural_key, r.line, r.rule, r.detail,
              (select jsonb_object_agg(key, value) from jsonb_each(to_jsonb(r))
                where key not in ('line', 'rule', 'detail') and key not like '\\_%') as record
         from import_rows r where r.rule is not null
       ${fromParts}
     ), q as (
       insert into ops.quarantine
         (source, entity, natural_key, rule, detail, record, record_hash, first_run_id, last_run_id)
       select $1, m.entity, m.natural_key, m.rule, $3 || ', line ' || m.line || ': ' || m.detail, rec, md5(rec::text), $5, $5
         from marked m
        cross join lateral (select jsonb_build_object('file_sha256', $4::text, 'line', m.line, 'values', m.record) as rec) x
       -- The same record of the same file is there already: importing the file again changes nothing.
       on conflict (source, entity, rule, record_hash) do nothing
       returning 1
     )
     select count(*)::int as added from q`,
    [options.source, `file:${options.kind}`, options.fileName, options.sha256, runId],
  );
  return { byRule: Object.fromEntries(counts.map((c) => [c.rule, c.n])), added: rows[0].added };
}

async function recordImport(client: pg.ClientBase, summary: ImportSummary): Promise<void> {
  const quarantined = Object.values(summary.quarantined).reduce((a, b) => a + b, 0);
  await client.query(
    `insert into ops.imports as i (source, file_sha256, kind, file_name, file_bytes, rows_read, rows_loaded,
                                   rows_quarantined, summary)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (source, file_sha256) do update
        set kind = excluded.kind, file_name = excluded.file_name, rows_read = excluded.rows_read,
            rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,
            summary = excluded.summary, last_imported_at = now(), times_imported = i.times_imported + 1`,
    [
      summary.source,
      summary.sha256,
      summary.kind,
      summary.file,
      summary.bytes,
      summary.rowsRead,
      summary.loaded,
      quarantined,
      JSON.stringify(summary),
    ],
  );
}

/** The first and last day (shop time) of a timestamptz column of a table, as `YYYY-MM-DD`. */
export async function dateRange(
  client: pg.ClientBase,
  table: string,
  column: string,
  where = 'true',
): Promise<{ firstDate: string | null; lastDate: string | null }> {
  const { rows } = await client.query<{ first: string | null; last: string | null }>(
    `select to_char(min(${column}), 'YYYY-MM-DD') as first, to_char(max(${column}), 'YYYY-MM-DD') as last
       from ${table} where ${where}`,
  );
  return { firstDate: rows[0].first, lastDate: rows[0].last };
}
