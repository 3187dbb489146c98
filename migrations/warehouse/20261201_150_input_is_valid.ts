import type { Knex } from 'knex';

/**
 * `ops.input_is_valid(value, type)`: whether a text is valid input for a type, as PostgreSQL 16's
 * `pg_input_is_valid` says, on every supported version. The imports and the canonical mapping check
 * each text date and number with it before casting, so one bad value is quarantined instead of failing
 * the statement.
 *
 * On 16 and later it is `pg_input_is_valid` itself, in a SQL function the planner inlines. PostgreSQL
 * 15 has no such function: there it casts inside an exception block, false on a data exception
 * (class 22: invalid syntax, out of range) as pg_input_is_valid is; other errors, such as an unknown
 * type, are raised as they are by pg_input_is_valid. The exception block makes it parallel unsafe.
 * Strict, as pg_input_is_valid: null in, null out.
 */
export async function up(knex: Knex): Promise<void> {
  const { rows } = (await knex.raw(`select current_setting('server_version_num')::int as num`)) as {
    rows: { num: number }[];
  };
  if (rows[0].num >= 160000) {
    await knex.raw(`
      create function ops.input_is_valid(value text, type text) returns boolean
        language sql stable strict parallel safe
        return pg_input_is_valid(value, type)`);
  } else {
    await knex.raw(`
      create function ops.input_is_valid(value text, type text) returns boolean
        language plpgsql stable strict as $$
      begin
        case type
          when 'timestamptz' then perform value::timestamptz;
          when 'numeric' then perform value::numeric;
          when 'date' then perform value::date;
          when 'integer' then perform value::integer;
          when 'bigint' then perform value::bigint;
          else execute format('select %L::%s', value, type::regtype);
        end case;
        return true;
      exception when data_exception then
        return false;
      end $$`);
  }
  await knex.raw(`
    comment on function ops.input_is_valid(text, text) is
      'Whether value is valid input for type, as pg_input_is_valid (PostgreSQL 16+) says, on PostgreSQL 15 too (migrations/warehouse/20261201_150_input_is_valid.ts).'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop function if exists ops.input_is_valid(text, text)`);
}
