import type { Knex } from 'knex';

/** core.fact_order's paid_amount subtracts refunds whichever sign a source gives them; its comment says so. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    comment on column core.fact_order.paid_amount is
      'Its payments that did not fail, less its refunds (status refunded, whichever sign the source gives their amount)';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`comment on column core.fact_order.paid_amount is null`);
}
