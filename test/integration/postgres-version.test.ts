import pg from 'pg';
import { migrateDatabase } from '../../lib/migrate';
import { majorOf, POSTGRES_VERSION_SQL, type PostgresVersion } from '../../lib/postgres-version';
import { createTestDatabases, type TestDatabases } from '../helpers/services';

/**
 * What cartflow needs of the server it runs on, checked on the one the tests run (the version matrix,
 * `npm run test:postgres -- <major>`, runs this file on each supported major).
 */
describe('the warehouse on this PostgreSQL', () => {
  let dbs: TestDatabases;
  let client: pg.Client;
  let version: PostgresVersion;

  beforeAll(async () => {
    dbs = await createTestDatabases('pg_version');
    client = new pg.Client({ connectionString: dbs.warehouseUrl });
    await client.connect();
    version = (await client.query<PostgresVersion>(POSTGRES_VERSION_SQL)).rows[0];
  });
  afterAll(async () => {
    await client?.end();
    await dbs?.drop();
  });

  test('migrating again accepts the server (its version is supported) and finds nothing to do', async () => {
    expect(majorOf(version.num)).toBeGreaterThanOrEqual(15);
    await expect(migrateDatabase(dbs.warehouseUrl, 'warehouse')).resolves.toEqual([]);
  });

  /** [text, type, valid]: what pg_input_is_valid (PostgreSQL 16+) answers. */
  const CASES: [string | null, string, boolean | null][] = [
    ['2010-12-01 08:26:00', 'timestamptz', true],
    ['2010-12-01T08:26:00+01:00', 'timestamptz', true],
    ['12/1/2010 8:26', 'timestamptz', true],
    ['2011-02-29', 'timestamptz', false],
    ['2010-12', 'timestamptz', false],
    ['not a date', 'timestamptz', false],
    ['', 'timestamptz', false],
    ['1.25', 'numeric', true],
    ['-3e2', 'numeric', true],
    ['1,25', 'numeric', false],
    ['1e1000000', 'numeric', false],
    ['abc', 'numeric', false],
    ['2010-12-01', 'date', true],
    ['2010-13-01', 'date', false],
    ['2147483648', 'integer', false],
    ['42', 'smallint', true],
    ['70000', 'smallint', false],
    [null, 'timestamptz', null],
  ];

  test('ops.input_is_valid answers as pg_input_is_valid does, on 15 too', async () => {
    await client.query(`set datestyle = 'ISO, MDY'`);
    const { rows } = await client.query<{ valid: boolean | null }>(
      `select ops.input_is_valid(t.value, t.type) as valid
         from unnest($1::text[], $2::text[]) with ordinality as t(value, type, n) order by n`,
      [CASES.map((c) => c[0]), CASES.map((c) => c[1])],
    );
    expect(rows.map((r) => r.valid)).toEqual(CASES.map((c) => c[2]));
    if (majorOf(version.num) >= 16) {
      const builtin = await client.query<{ valid: boolean | null }>(
        `select pg_input_is_valid(t.value, t.type) as valid
           from unnest($1::text[], $2::text[]) with ordinality as t(value, type, n) order by n`,
        [CASES.map((c) => c[0]), CASES.map((c) => c[1])],
      );
      expect(builtin.rows.map((r) => r.valid)).toEqual(CASES.map((c) => c[2]));
    }
  });

  test('ops.input_is_valid raises on a type that does not exist, as pg_input_is_valid does', async () => {
    await expect(client.query(`select ops.input_is_valid('1', 'no_such_type')`)).rejects.toThrow(
      'type "no_such_type" does not exist',
    );
  });
});
