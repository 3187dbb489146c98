import type { Knex } from 'knex';

/**
 * The storefront's events as `POST /v1/events` accepted them, for the real-time dashboard and the
 * daily pipeline, and the ledger that makes ingestion idempotent and forwarding reliable.
 *
 * - `staging.raw_events` is partitioned by day of `event_time` (one partition per UTC day, created on
 *   demand by `staging.ensure_raw_events_partition`), so old days can be detached or archived whole.
 *   Postgres requires a partitioned table's unique keys to contain the partition key, so its primary
 *   key is (event_id, event_time) and cannot by itself stop a re-sent event with a different time.
 * - `staging.raw_event_ids` is therefore the idempotency ledger: one row per event_id ever accepted,
 *   unpartitioned, with the primary key on event_id alone. An insert claims the id here first; only
 *   events whose id was new go into raw_events, in the same statement.
 * - The same row is the outbox: `forwarded_at` stays null until the event was signalled to its cart's
 *   workflow, so events accepted while Temporal is unreachable are forwarded later by the relay.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table staging.raw_events (
      event_id      uuid        not null,
      event_time    timestamptz not null,
      event_type    text        not null check (event_type in ('view', 'cart', 'remove_from_cart', 'purchase')),
      user_id       text        not null,
      user_session  text        not null,
      product_id    text        not null,
      price         numeric     not null check (price >= 0),
      quantity      integer     not null check (quantity >= 1),
      category_code text,
      brand         text,
      email         text,
      received_at   timestamptz not null default now(),
      primary key (event_id, event_time)
    ) partition by range (event_time);
    create index raw_events_by_session on staging.raw_events (user_session);
    comment on table staging.raw_events is
      'Storefront events accepted by POST /v1/events (REES46 field names), one partition per UTC day of event_time.';

    create table staging.raw_event_ids (
      event_id     uuid        primary key,
      event_time   timestamptz not null,
      user_session text        not null,
      received_at  timestamptz not null default now(),
      forwarded_at timestamptz
    );
    create index raw_event_ids_unforwarded on staging.raw_event_ids (received_at) where forwarded_at is null;
    comment on table staging.raw_event_ids is
      'Every event_id ever accepted (the idempotency key), and the outbox: forwarded_at is set once the event reached its cart workflow.';

    create function staging.ensure_raw_events_partition(day date) returns boolean
    language plpgsql as $$
    declare
      name text := 'raw_events_' || to_char(day, 'YYYYMMDD');
    begin
      if to_regclass('staging.' || name) is not null then
        return false;
      end if;
      -- Two requests may meet the same new day at once; the lock makes the second one wait and see it.
      perform pg_advisory_xact_lock(hashtext('staging.raw_events'), (day - date '2000-01-01'));
      if to_regclass('staging.' || name) is not null then
        return false;
      end if;
      execute format(
        'create table staging.%I partition of staging.raw_events for values from (%L) to (%L)',
        name, (day::timestamp at time zone 'UTC'), ((day + 1)::timestamp at time zone 'UTC'));
      return true;
    end $$;
    comment on function staging.ensure_raw_events_partition(date) is
      'Creates the partition of staging.raw_events for one UTC day unless it exists; true when it created it.';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop function if exists staging.ensure_raw_events_partition(date);
    drop table if exists staging.raw_event_ids;
    drop table if exists staging.raw_events;
  `);
}
