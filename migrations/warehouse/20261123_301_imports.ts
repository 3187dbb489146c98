import type { Knex } from 'knex';

/**
 * The files `cartflow import` has taken: one row per source and file content (SHA-256), with what the
 * import read, loaded and quarantined. Importing the same file again finds its row and changes nothing.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table ops.imports (
      source            text not null,
      file_sha256       text not null check (file_sha256 ~ '^[0-9a-f]{64}$'),
      kind              text not null check (kind in ('online-retail', 'transactions', 'documents', 'rees46')),
      file_name         text not null,
      file_bytes        bigint not null,
      rows_read         bigint not null,
      rows_loaded       bigint not null,
      rows_quarantined  bigint not null,
      -- The import's summary as the CLI printed it: counts by rule, facts, dates, notes.
      summary           jsonb not null,
      first_imported_at timestamptz not null default now(),
      last_imported_at  timestamptz not null default now(),
      times_imported    integer not null default 1,
      primary key (source, file_sha256)
    );
    comment on table ops.imports is
      'Files imported with "cartflow import": per source and file checksum, what was read, loaded and quarantined (rules in summary).';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table if exists ops.imports');
}
