import type { Knex } from 'knex';

/**
 * What lets a day cost what changed: the inputs the last transform of a source read (so a run whose
 * inputs are the same skips it), and the last reconciliation that matched (so a run whose warehouse
 * side is the same checks the source by its whole-source totals alone).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table ops.transform_state (
      source        text primary key,
      -- sha-256 of the definition, time zone, transform code and the staged tables' row markers.
      fingerprint   text not null,
      -- The staged tables' markers, {table: {rows, xmin_sum, changes_rows, changes_xmin_sum}}, for reading.
      inputs        jsonb not null,
      -- The run whose transform last wrote core for this source, and what it quarantined ([{entity, rule, rows}]).
      run_id        text not null,
      quarantined   jsonb not null,
      transformed_at timestamptz not null default now()
    );
    comment on table ops.transform_state is
      'Per source, the inputs its last transform read: a run with the same inputs has nothing to transform.';

    create table ops.reconciled_sources (
      source        text primary key,
      -- ops.transform_state.run_id when it matched: the warehouse side is the same while it is.
      transform_run text not null,
      -- The source's whole-source totals then, through its order-lines mapping: lines, revenue, and
      -- the sum of hashtext(order_line_id) (a line swapped for another of the same amount shows).
      lines         bigint not null,
      amount        numeric not null,
      key_hash      numeric not null,
      -- The reconciliation's summary (every day matched), returned again while nothing changed.
      summary       jsonb not null,
      reconciled_at timestamptz not null default now()
    );
    comment on table ops.reconciled_sources is
      'Per source, its last reconciliation that matched: while neither its warehouse side nor its whole-source totals change, it still does.';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop table if exists ops.reconciled_sources, ops.transform_state`);
}
