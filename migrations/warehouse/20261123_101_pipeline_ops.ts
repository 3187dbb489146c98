import type { Knex } from 'knex';

/**
 * What the daily pipeline keeps in `ops`: registered sources, extract-load checkpoints (one per source
 * table, committed with the rows they cover), the chunks of full loads, and the quarantine.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table ops.sources (
      name          text primary key check (name ~ '^[a-z][a-z0-9_]{0,29}$'),
      definition    jsonb not null,
      registered_at timestamptz not null default now(),
      updated_at    timestamptz not null default now()
    );
    comment on table ops.sources is
      'Sources registered with "cartflow source add": connection, tables and mapping. The demo shop is built in.';

    create table ops.extract_state (
      source          text not null,
      table_name      text not null,
      -- The columns staged from the source, [{name, type, asText}], as the staging table has them.
      columns         jsonb not null,
      -- The full load in progress or last completed; its chunks are in ops.extract_chunks.
      generation      integer not null default 0,
      full_complete   boolean not null default false,
      -- The cursor value (as the source prints it) up to which the full load counts as complete.
      full_upper      text,
      -- Incremental checkpoint: every row with (cursor, pk) <= (checkpoint_cursor, checkpoint_pk) is staged;
      -- a null checkpoint_pk means every row with cursor <= checkpoint_cursor is.
      checkpoint_cursor text,
      checkpoint_pk     jsonb,
      updated_at      timestamptz not null default now(),
      primary key (source, table_name)
    );
    comment on table ops.extract_state is
      'Extract-load checkpoint per source table; it commits in the same transaction as the rows it covers.';

    create table ops.extract_chunks (
      source      text not null,
      table_name  text not null,
      generation  integer not null,
      chunk_no    integer not null,
      -- Bounds on the first primary-key column, as text; null is unbounded. lo inclusive, hi exclusive.
      lo          text,
      hi          text,
      -- The integer range the chunk walks in batches (null for a key that is not an integer: one batch).
      range_start text,
      range_end   text,
      -- Where the next batch starts (null: at the beginning). Committed with each batch's rows.
      next_lo     text,
      done        boolean not null default false,
      rows_loaded bigint not null default 0,
      updated_at  timestamptz not null default now(),
      primary key (source, table_name, generation, chunk_no)
    );
    comment on table ops.extract_chunks is
      'The primary-key ranges of a full load; several workers load one table by taking different chunks.';

    create table ops.quarantine (
      quarantine_id bigint generated always as identity primary key,
      source        text not null,
      entity        text not null,
      natural_key   text,
      rule          text not null,
      detail        text not null,
      record        jsonb not null,
      record_hash   text not null,
      first_run_id  text not null,
      last_run_id   text not null,
      first_seen_at timestamptz not null default now(),
      last_seen_at  timestamptz not null default now(),
      -- Set when a run no longer sees the row break the rule (fixed, or gone, at the source).
      resolved_at   timestamptz,
      unique (source, entity, rule, record_hash)
    );
    create index quarantine_open on ops.quarantine (source, entity, rule) where resolved_at is null;
    comment on table ops.quarantine is
      'Rows that broke a quality rule, with the rule and the runs that saw them. Nothing bad is dropped silently.';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop table if exists ops.quarantine, ops.extract_chunks, ops.extract_state, ops.sources`);
}
