import type mysql from 'mysql2/promise';
import { checkMysqlSource, MysqlPools, type MysqlSource } from '../../extract/mysql';
import type { SourceDefinition } from '../../sources/definition';
import { addSource } from '../../cli/source';
import { createCliContext, type CliContext } from '../../cli/context';
import { createLogger } from '../../lib/log';
import { testConfig } from '../helpers/config';
import { createTestDeps, type TestDeps } from '../helpers/deps';
import { startTestMariaDb, type TestMariaDb } from '../helpers/mariadb';
import { coreFingerprint, runDailyPipeline } from '../helpers/pipeline';
import { createTestDatabases, testServices, type TestDatabases } from '../helpers/services';
import { startTestWorker, type TestWorker } from '../helpers/temporal';

/** A shop's till database in MySQL dialect: its own names, every table with a maintained updated_at. */
const TILL_SCHEMA = `
  create table clients (
    client_no int unsigned primary key, mail varchar(200), given varchar(100), family varchar(100),
    town varchar(100), country char(2), joined datetime not null,
    updated_at datetime(6) not null default current_timestamp(6) on update current_timestamp(6));
  create table articles (
    article_no varchar(20) primary key, title varchar(200), category enum('tea', 'coffee', 'cups'),
    list_price decimal(10,2) not null,
    updated_at datetime(6) not null default current_timestamp(6) on update current_timestamp(6));
  create table sales (
    sale_id bigint primary key, client_no int unsigned null, state varchar(20) not null, sold_at datetime not null,
    updated_at datetime(6) not null default current_timestamp(6) on update current_timestamp(6));
  create table sale_items (
    sale_id bigint not null, pos smallint not null, article_no varchar(20) not null, qty int not null,
    price decimal(10,2) not null, rebate decimal(4,3) not null default 0,
    updated_at datetime(6) not null default current_timestamp(6) on update current_timestamp(6),
    primary key (sale_id, pos));`;

/** 300 clients, 40 articles, 2,000 sales over 30 days of November 2026, 1 to 4 items each. */
const TILL_DATA = `
  insert into clients (client_no, mail, given, family, town, country, joined)
    select seq, concat('c', seq, '@example.com'), concat('Given', seq), concat('Family', seq),
           concat('Town ', seq % 20), 'DE', '2026-01-01 00:00:00'
      from seq_1_to_300;
  insert into articles (article_no, title, category, list_price)
    select concat('A', lpad(seq, 3, '0')), concat('Article ', seq), elt(1 + seq % 3, 'tea', 'coffee', 'cups'), 1.5 + seq * 0.75
      from seq_1_to_40;
  insert into sales (sale_id, client_no, state, sold_at)
    select seq, if(seq % 10 = 0, null, 1 + seq % 300), elt(1 + seq % 5, 'paid', 'shipped', 'paid', 'cancelled', 'returned'),
           timestamp('2026-11-01 00:00:00') + interval (seq * 1297) % (30 * 86400) second
      from seq_1_to_2000;
  insert into sale_items (sale_id, pos, article_no, qty, price, rebate)
    select s.seq, p.seq, concat('A', lpad(1 + (s.seq * 7 + p.seq * 3) % 40, 3, '0')), 1 + (s.seq + p.seq) % 4,
           1.5 + (1 + (s.seq * 7 + p.seq * 3) % 40) * 0.75, if(s.seq % 7 = 0, 0.1, 0)
      from seq_1_to_2000 s join seq_1_to_4 p on p.seq <= 1 + s.seq % 4;`;

/** The till as a cartflow source: its tables, and a mapping (Postgres SQL over the staged copies). */
const tillSource = (url: string): SourceDefinition => ({
  name: 'till',
  description: 'A shop till on MariaDB',
  connection: { kind: 'mysql', url },
  tables: [
    { name: 'clients', primaryKey: ['client_no'], cursor: 'updated_at' },
    { name: 'articles', primaryKey: ['article_no'], cursor: 'updated_at' },
    { name: 'sales', primaryKey: ['sale_id'], cursor: 'updated_at' },
    { name: 'sale_items', primaryKey: ['sale_id', 'pos'], cursor: 'updated_at' },
  ],
  mapping: {
    customers: `select client_no as customer_id, mail as email, given as first_name, family as last_name, town as city,
                       country, joined as signup_at, joined as changed_at from clients`,
    products: `select article_no as product_id, article_no as sku, title as name, category, list_price as price,
                      updated_at as changed_at from articles`,
    orders: `select sale_id as order_id, client_no as customer_id, state as status, sold_at as placed_at, 'EUR' as currency
               from sales`,
    orderLines: `select sale_id || '-' || pos as order_line_id, sale_id as order_id, article_no as product_id,
                        qty as quantity, price as unit_price, rebate as discount from sale_items`,
  },
});

/** What MariaDB itself says: lines and revenue per status, computed by MariaDB from its own tables. */
async function tillTotals(till: mysql.Connection) {
  const [rows] = await till.query(
    `select s.state as status, count(*) as \`lines\`, cast(round(sum(i.qty * i.price * (1 - i.rebate)) * 100) as char) as cents
       from sale_items i join sales s using (sale_id) group by s.state order by s.state`,
  );
  return (rows as { status: string; lines: number; cents: string }[]).map((r) => ({
    ...r,
    lines: Number(r.lines),
  }));
}

describe('a MariaDB source through the daily pipeline', () => {
  let mariadb: TestMariaDb;
  let till: mysql.Connection;
  let databases: TestDatabases;
  let deps: TestDeps;
  let worker: TestWorker;
  let context: CliContext;

  beforeAll(async () => {
    mariadb = await startTestMariaDb();
    await mariadb.createDatabase('till');
    till = await mariadb.connect('till');
    await till.query(TILL_SCHEMA);
    await till.query(TILL_DATA);
    databases = await createTestDatabases('import_mysql');
    deps = createTestDeps(databases);
    worker = await startTestWorker(deps);
    context = createCliContext(
      testConfig({
        CARTFLOW_WAREHOUSE_URL: databases.warehouseUrl,
        CARTFLOW_SHOP_URL: databases.shopUrl,
        TEMPORAL_ADDRESS: testServices().temporalAddress,
        SMTP_URL: 'smtp://127.0.0.1:1',
      }),
      createLogger('warn'),
    );
    // As `cartflow source add till.json` registers it: checked against MariaDB first.
    await addSource(context, JSON.parse(JSON.stringify(tillSource(mariadb.url('till')))));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await till?.end();
    await worker?.stop();
    await deps?.close();
    await databases?.drop();
    await mariadb?.stop();
  });

  const core = async () =>
    (
      await deps.warehouse.query<{ status: string; lines: number; cents: string }>(
        `select status, count(*)::int as lines, round(sum(net_amount) * 100)::bigint::text as cents
           from core.fact_order_line where source = 'till' group by status order by status`,
      )
    ).rows;

  it('checks a definition against the MariaDB database, naming a missing table or column', async () => {
    const pools = new MysqlPools();
    try {
      const good = tillSource(mariadb.url('till')) as unknown as MysqlSource;
      expect(await checkMysqlSource(good, pools)).toEqual([]);
      const bad = {
        ...good,
        tables: [
          { name: 'clients', primaryKey: ['client_id'], cursor: 'updated_at' },
          { name: 'refunds', primaryKey: ['id'] },
        ],
      };
      expect(await checkMysqlSource(bad, pools)).toEqual([
        'table clients has no column client_id',
        'table till.refunds does not exist',
      ]);
      await expect(
        addSource(context, { ...tillSource(mariadb.url('till')), tables: bad.tables }),
      ).rejects.toThrow(
        'Source till does not fit its database:\n  - table clients has no column client_id\n  - table till.refunds does not exist',
      );
    } finally {
      await pools.close();
    }
  });

  it('loads it in full and builds core with the counts and revenue MariaDB has', async () => {
    const run = await runDailyPipeline(worker, { date: '2026-11-30' });
    expect(run.status).toBe('succeeded');
    const loads = run.summary.loads.filter((l) => l.source === 'till');
    expect(loads.map((l) => [l.table, l.mode, l.rows])).toEqual([
      ['clients', 'full', 300],
      ['articles', 'full', 40],
      ['sales', 'full', 2000],
      ['sale_items', 'full', expect.any(Number)],
    ]);
    expect(await core()).toEqual(await tillTotals(till));
    const [[counts]] = (await till.query(
      `select (select count(*) from clients) as clients, (select count(*) from articles) as articles,
              (select count(*) from sales where client_no is null) as guest_sales`,
    )) as unknown as [[{ clients: number; articles: number; guest_sales: number }]];
    const { rows } = await deps.warehouse.query(`
      select (select count(*)::int from core.dim_customer where source = 'till') as clients,
             (select count(*)::int from core.dim_product where source = 'till') as articles,
             (select count(distinct order_id)::int from core.fact_order_line where source = 'till' and customer_key = 0) as guest_sales`);
    expect(rows[0]).toEqual({
      clients: Number(counts.clients),
      articles: Number(counts.articles),
      guest_sales: Number(counts.guest_sales),
    });
    expect(run.summary.reconciliations.find((r) => r.source === 'till')).toMatchObject({ mismatchedDays: 0 });
  }, 300_000);

  it('takes only the changed rows the next day, and core follows the till exactly', async () => {
    await till.query(`
      update sales set state = 'cancelled' where sale_id in (1, 2, 4);
      update articles set list_price = list_price + 1 where article_no = 'A001';
      update clients set town = 'Elsewhere' where client_no = 7;
      insert into sales (sale_id, client_no, state, sold_at) values (2001, 7, 'paid', '2026-12-01 09:30:00');
      insert into sale_items (sale_id, pos, article_no, qty, price) values (2001, 1, 'A001', 3, 3.25), (2001, 2, 'A002', 1, 4.00);`);
    const run = await runDailyPipeline(worker, { date: '2026-12-01' });
    const loads = Object.fromEntries(
      run.summary.loads.filter((l) => l.source === 'till').map((l) => [l.table, [l.mode, l.rows]]),
    );
    expect(loads).toEqual({
      clients: ['incremental', 1],
      articles: ['incremental', 1],
      sales: ['incremental', 4],
      sale_items: ['incremental', 2],
    });
    expect(await core()).toEqual(await tillTotals(till));
    const { rows } = await deps.warehouse.query(
      `select count(*)::int as versions from core.dim_customer where source = 'till' and customer_id = '7'`,
    );
    expect(rows[0].versions).toBe(2);
  }, 300_000);

  it('changes nothing when the same day runs again', async () => {
    const before = await coreFingerprint(deps.warehouse);
    const run = await runDailyPipeline(worker, { date: '2026-12-01' });
    expect(run.summary.loads.filter((l) => l.source === 'till').every((l) => l.mode === 'unchanged')).toBe(
      true,
    );
    expect(await coreFingerprint(deps.warehouse)).toEqual(before);
  }, 300_000);
});
