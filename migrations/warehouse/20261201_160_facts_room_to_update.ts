import type { Knex } from 'knex';

/**
 * Room on each page of the facts for their updates. A day's late changes (a status, a quantity)
 * update a few percent of the facts in place; on a full page the new version of a row goes to
 * another page, and its primary key gets a new entry (a random leaf page written, logged in full after
 * a checkpoint). With free space on the page the update is a heap-only tuple: same page, no index
 * entry. The facts have no other index, and an update never changes their key, so every update can be
 * one. Takes effect for pages written from now on (a full transform's facts); existing pages keep
 * their fill until rewritten (`vacuum full`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table core.fact_order_line set (fillfactor = 85);
    alter table core.fact_order set (fillfactor = 85);
    alter table core.fact_payment set (fillfactor = 85);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table core.fact_order_line reset (fillfactor);
    alter table core.fact_order reset (fillfactor);
    alter table core.fact_payment reset (fillfactor);
  `);
}
