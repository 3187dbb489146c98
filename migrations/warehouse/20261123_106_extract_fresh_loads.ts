import type { Knex } from 'knex';

/**
 * A full load into an empty staged copy ("fresh") can skip clearing each batch's key range and build
 * the primary key once at the end instead of maintaining it row by row: this records which loads are.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table ops.extract_state add column full_fresh boolean not null default false;
    comment on column ops.extract_state.full_fresh is
      'The full load in progress started on an empty staged copy without its primary key; the chunk that completes it adds the key.';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`alter table ops.extract_state drop column full_fresh`);
}
