import type { Knex } from 'knex';

/**
 * A cart asks, before it declares its session idle, when the server last accepted an event of the
 * session — delivered to the cart or still in the outbox. This index answers that from the ledger.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `create index raw_event_ids_by_session on staging.raw_event_ids (user_session, received_at desc)`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop index if exists staging.raw_event_ids_by_session`);
}
