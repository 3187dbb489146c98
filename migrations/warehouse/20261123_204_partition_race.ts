import type { Knex } from 'knex';

/**
 * `staging.ensure_raw_events_partition` checked for the partition again after taking its advisory lock
 * with `to_regclass`, which reads the backend's catalog cache; taking an advisory lock does not refresh
 * that cache, so a server that waited for another to create the day's partition could still miss it
 * and fail with "already exists". The second check now queries pg_class, which sees what committed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create or replace function staging.ensure_raw_events_partition(day date) returns boolean
    language plpgsql as $$
    declare
      name text := 'raw_events_' || to_char(day, 'YYYYMMDD');
    begin
      if to_regclass('staging.' || name) is not null then
        return false;
      end if;
      perform pg_advisory_xact_lock(hashtext('staging.raw_events'), (day - date '2000-01-01'));
      if exists (select 1 from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                  where n.nspname = 'staging' and c.relname = name) then
        return false;
      end if;
      execute format(
        'create table staging.%I partition of staging.raw_events for values from (%L) to (%L)',
        name, (day::timestamp at time zone 'UTC'), ((day + 1)::timestamp at time zone 'UTC'));
      return true;
    end $$;
  `);
}

export async function down(): Promise<void> {
  // The earlier definition had the race; there is nothing worth restoring.
}
