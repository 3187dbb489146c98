/**
 * The source databases the extract engine is tested against, one entry per dialect: the extract
 * fault tests (test/integration/extract-faults.test.ts) run `describe.each(SOURCE_DIALECTS)`. A new
 * dialect is one more entry here: how to start its database, and its SQL for the same table.
 *
 * Each source holds `till_lines (line_id, amount, note, updated_at)`: an integer key, a decimal, a
 * text and a cursor that is an instant. Digests are computed by each database from its own rows, so
 * staging is compared with the source without either side's driver in between.
 */
import type mysql from 'mysql2/promise';
import pg from 'pg';
import type { SourceDialect } from '../../extract/dialect';
import { mysqlDialect, MysqlPools, type MysqlSource } from '../../extract/mysql';
import { postgresDialect } from '../../extract/postgres';
import type { SourceConnection } from '../../sources/definition';
import { startTestMariaDb, type TestMariaDb } from './mariadb';

export interface SourceDatabase {
  /** The connection of a source definition that reads this database. */
  connection: SourceConnection;
  /** The same kind of connection to a port where nothing listens, with a password in it. */
  unreachable(port: number): SourceConnection;
  /** Runs statements (separated by `;`) at the source. */
  exec(sql: string): Promise<void>;
  /**
   * The engine's dialect over this database on connections that give up waiting for a lock after a
   * second, and a way to hold a table's lock from another connection (resolves to its release).
   */
  probe(): Promise<{
    dialect: SourceDialect;
    holdLock(table: string): Promise<() => Promise<void>>;
    close(): Promise<void>;
  }>;
  /** Rows and an md5 of `line_id:amount:note` in key order, computed by the source. */
  digest(table: string): Promise<{ rows: number; digest: string }>;
  stop(): Promise<void>;
}

export interface SourceDialectCase {
  dialect: 'postgres' | 'mysql';
  start(postgresUrl: string): Promise<SourceDatabase>;
  /** The source's SQL for the fixture's operations. */
  sql: {
    /** `till_lines` with `rows` rows; with `key`, a primary key on line_id (else none, and no unique index). */
    createTill(rows: number, key: boolean): string;
    /** Changes `amount` of the lines whose id is a multiple of `every`, advancing their cursor. */
    touch(every: number): string;
    /** A new line `id`, cursor now. */
    insert(id: number): string;
    addColumn: string;
    dropColumn: string;
  };
}

/** The warehouse side of `digest`: the current staged copy (table overlaid with its changes). */
export async function stagedDigest(
  warehouse: pg.Pool,
  source: string,
  table: string,
): Promise<{ rows: number; digest: string }> {
  const { rows } = await warehouse.query<{ rows: number; digest: string }>(
    `select count(*)::int as rows,
            md5(coalesce(string_agg(line_id || ':' || amount || ':' || coalesce(note, '-'), E'\\n' order by line_id), '')) as digest
       from ${pg.escapeIdentifier(`staging_${source}`)}.${pg.escapeIdentifier(`${table}__current`)}`,
  );
  return rows[0];
}

export const SOURCE_DIALECTS: SourceDialectCase[] = [
  {
    dialect: 'postgres',
    async start(postgresUrl) {
      const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
      const url = new URL(postgresUrl);
      return {
        connection: { kind: 'postgres', url: postgresUrl },
        unreachable: (port) => ({
          kind: 'postgres',
          url: `postgres://nobody:secret@127.0.0.1:${port}/${url.pathname.slice(1)}`,
        }),
        exec: async (sql) => void (await pool.query(sql)),
        probe: async () => {
          const probePool = new pg.Pool({
            connectionString: postgresUrl,
            max: 2,
            options: '-c lock_timeout=1000',
          });
          return {
            dialect: postgresDialect({}, probePool, 'public'),
            holdLock: async (table) => {
              const holder = new pg.Client({ connectionString: postgresUrl });
              await holder.connect();
              await holder.query(`begin; lock table ${pg.escapeIdentifier(table)} in access exclusive mode`);
              return async () => {
                await holder.query('rollback');
                await holder.end();
              };
            },
            close: () => probePool.end(),
          };
        },
        digest: async (table) =>
          (
            await pool.query<{ rows: number; digest: string }>(
              `select count(*)::int as rows,
                      md5(coalesce(string_agg(line_id || ':' || amount || ':' || coalesce(note, '-'), E'\\n' order by line_id), '')) as digest
                 from ${pg.escapeIdentifier(table)}`,
            )
          ).rows[0],
        stop: () => pool.end(),
      };
    },
    sql: {
      createTill: (rows, key) => `
        create table till_lines (line_id bigint not null${key ? ' primary key' : ''}, amount numeric(10, 2),
                                 note text, updated_at timestamptz(6) not null);
        insert into till_lines select g, g * 1.5, 'line ' || g, timestamptz '2026-11-01T00:00:00Z' + g * interval '1 second'
          from generate_series(1, ${rows}) g;
        analyze till_lines`,
      touch: (every) =>
        `update till_lines set amount = amount + 1, updated_at = clock_timestamp() where line_id % ${every} = 0`,
      insert: (id) => `insert into till_lines values (${id}, 99.99, 'new', clock_timestamp())`,
      addColumn: `alter table till_lines add column channel text; update till_lines set channel = 'web'`,
      dropColumn: `alter table till_lines drop column note`,
    },
  },
  {
    dialect: 'mysql',
    async start() {
      const mariadb: TestMariaDb = await startTestMariaDb();
      await mariadb.createDatabase('till');
      const root: mysql.Connection = await mariadb.connect('till');
      await root.query('set session group_concat_max_len = 1073741824');
      return {
        connection: { kind: 'mysql', url: mariadb.url('till') },
        unreachable: (port) => ({ kind: 'mysql', url: `mysql://nobody:secret@127.0.0.1:${port}/till` }),
        exec: async (sql) => void (await root.query(sql)),
        probe: async () => {
          // New connections wait a second for a table's (metadata) lock, then fail with errno 1205.
          await root.query('set global lock_wait_timeout = 1');
          const pools = new MysqlPools();
          const source = {
            name: 'probe',
            connection: { kind: 'mysql', url: mariadb.url('till') },
            tables: [],
          };
          return {
            dialect: mysqlDialect(source as MysqlSource, pools),
            holdLock: async (table) => {
              const holder = await mariadb.connect('till');
              await holder.query(`lock tables \`${table}\` write`);
              return async () => {
                await holder.query('unlock tables');
                await holder.end();
              };
            },
            close: async () => {
              await pools.close();
              await root.query('set global lock_wait_timeout = default');
            },
          };
        },
        digest: async (table) => {
          const [rows] = await root.query(
            `select count(*) as n_rows,
                    md5(coalesce(group_concat(concat(line_id, ':', amount, ':', coalesce(note, '-')) order by line_id separator '\\n'), '')) as digest
               from \`${table}\``,
          );
          const [row] = rows as { n_rows: number | string; digest: string }[];
          return { rows: Number(row.n_rows), digest: row.digest };
        },
        stop: async () => {
          await root.end();
          await mariadb.stop();
        },
      };
    },
    sql: {
      createTill: (rows, key) => `
        create table till_lines (line_id bigint not null${key ? ' primary key' : ''}, amount decimal(10, 2),
                                 note varchar(100), updated_at timestamp(6) not null default current_timestamp(6));
        insert into till_lines select seq, seq * 1.5, concat('line ', seq), timestamp('2026-11-01 00:00:00') + interval seq second
          from seq_1_to_${rows}`,
      touch: (every) =>
        `update till_lines set amount = amount + 1, updated_at = current_timestamp(6) where line_id % ${every} = 0`,
      insert: (id) => `insert into till_lines values (${id}, 99.99, 'new', current_timestamp(6))`,
      addColumn: `alter table till_lines add column channel varchar(20); update till_lines set channel = 'web'`,
      dropColumn: `alter table till_lines drop column note`,
    },
  },
];
