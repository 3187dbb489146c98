import crypto from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ALPHA_CANDIDATES, FACTOR_CANDIDATES } from '../../activities/models/recommendations';
import { simulateShop } from '../../simulator';
import { buildServer } from '../../server/app';
import { VERSION_POLL_MS } from '../../server/recommendations';
import { runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';
import { testServices } from '../helpers/services';
import { Client, Connection } from '@temporalio/client';

const DATE = '2026-11-20';
const TOKEN = 'recommendations-test-token';

/** The API's answer, as DESIGN.md's contract has it. */
interface Answer {
  status: number;
  body: {
    customer_id?: string;
    product_id?: string;
    model_version: number | null;
    fallback: boolean;
    items: { product_id: string; score: number }[];
    message?: string;
  };
}

describe('recommendations: the fit on the real warehouse and the API', () => {
  let stack: PipelineStack;
  let server: FastifyInstance;
  let client: Client;
  let url: string;
  let versionId: number;
  /** Two products carted together in three storefront sessions (and never bought together). */
  let sessionPair: [string, string];

  const get = async (path: string, token: string | null = TOKEN): Promise<Answer> => {
    const response = await fetch(`${url}${path}`, {
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: response.status, body: (await response.json()) as Answer['body'] };
  };

  beforeAll(async () => {
    stack = await startPipelineStack('recommendations');
    await simulateShop(stack.shop, { customers: 800, days: 240, seed: 13, endDate: DATE });
    await runDailyPipeline(stack.worker, { date: DATE, models: false });
    const { warehouse } = stack.deps;
    // Storefront events: a customer carts two rarely sold products together in three sessions.
    const { rows: rare } = await warehouse.query<{ product_id: string }>(
      `select p.product_id from core.dim_product p
        where p.source = 'shop' and p.is_current
          and not exists (select 1 from core.fact_order_line f where f.product_key = p.product_key)
        order by p.product_id limit 2`,
    );
    sessionPair = [rare[0].product_id, rare[1].product_id];
    const { rows: someone } = await warehouse.query<{ customer_id: string }>(
      `select customer_id from core.dim_customer where source = 'shop' and is_current order by customer_id limit 1`,
    );
    await warehouse.query(`select staging.ensure_raw_events_partition($1::date)`, [DATE]);
    for (let session = 0; session < 3; session++)
      for (const product of sessionPair)
        await warehouse.query(
          `insert into staging.raw_events (event_id, event_time, event_type, user_id, user_session, product_id, price, quantity)
           values ($1, $2::date + interval '10 hours', 'cart', $3, $4, $5, 10, 1)`,
          [crypto.randomUUID(), DATE, someone[0].customer_id, `test-session-${session}`, product],
        );
    const result = await runDailyPipeline(stack.worker, {
      date: DATE,
      models: ['recommendations'],
      modelTaskQueue: stack.worker.taskQueues.ml,
    });
    const step = result.summary.models?.find((m) => m.model === 'recommendations');
    if (step?.status !== 'succeeded') throw new Error(`the fit did not succeed: ${JSON.stringify(step)}`);
    versionId = step.versionId!;

    const connection = await Connection.connect({ address: testServices().temporalAddress });
    client = new Client({ connection });
    server = buildServer({
      warehouse,
      shop: stack.deps.shop,
      temporal: client,
      smtpUrl: 'smtp://127.0.0.1:1',
      recommendations: { ingestToken: TOKEN },
    });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const address = server.server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    await client?.connection.close();
    await stack?.stop();
  });

  it('records the version with HR@10 and NDCG@10 of every method on the time split', async () => {
    const { rows } = await stack.deps.warehouse.query(
      `select status, metrics, parameters from ops.model_versions where version_id = $1`,
      [versionId],
    );
    const [{ status, metrics, parameters }] = rows;
    expect(status).toBe('succeeded');
    expect(parameters).toMatchObject({ split: '2026-10-23', testDays: 28 });
    expect(parameters.stock).toMatch(/products\.stock/);
    // The factors and α were chosen on the 28 days before the split, from every candidate, and fitted.
    const chosen = parameters.hyperparameters.shop;
    expect(chosen.how).toBe('validation');
    expect(chosen.tried.map((t: { factors: number; alpha: number }) => [t.factors, t.alpha])).toEqual(
      FACTOR_CANDIDATES.flatMap((factors) => ALPHA_CANDIDATES.map((alpha) => [factors, alpha])),
    );
    expect(chosen.customers).toBeGreaterThanOrEqual(20);
    expect([parameters.factors, parameters.alpha]).toEqual([chosen.factors, chosen.alpha]);
    const bestNdcg = Math.max(...chosen.tried.map((t: { ndcg: number }) => t.ndcg));
    const winner = chosen.tried.find(
      (t: { factors: number; alpha: number }) => t.factors === chosen.factors && t.alpha === chosen.alpha,
    );
    expect(winner.ndcg).toBe(bestNdcg);
    const evaluation = metrics.evaluation.shop;
    expect(evaluation.customers).toBeGreaterThan(20);
    for (const method of ['factorisation', 'cooccurrence', 'blend', 'popular']) {
      expect(evaluation[method].hr).toBeGreaterThanOrEqual(0);
      expect(evaluation[method].hr).toBeLessThanOrEqual(1);
      expect(evaluation[method].ndcg).toBeLessThanOrEqual(evaluation[method].hr);
    }
  });

  it('never recommends what the customer bought in the window, nor what is out of stock', async () => {
    const { warehouse, shop } = stack.deps;
    const { rows: outOfStock } = await shop.query<{ product_id: string }>(
      `select product_id::text as product_id from products where stock <= 0`,
    );
    expect(outOfStock.length).toBeGreaterThan(0);
    const { rows } = await warehouse.query(
      `select count(*)::int as rows,
              count(distinct customer_id)::int as customers,
              count(*) filter (where r.product_id = any($2))::int as out_of_stock,
              count(*) filter (where exists (
                select 1 from core.fact_order_line f
                  join core.dim_customer c on c.customer_key = f.customer_key
                  join core.dim_product p on p.product_key = f.product_key
                 where c.source = r.source and c.customer_id = r.customer_id and p.product_id = r.product_id
                   and f.status not in ('cancelled', 'returned')
                   and f.date_key > to_char($1::date - 90, 'YYYYMMDD')::int and f.date_key <= to_char($1::date, 'YYYYMMDD')::int
              ))::int as bought_recently,
              bool_and(rank between 1 and 20) as ranked
         from mart.recommendations r where as_of = $1`,
      [DATE, outOfStock.map((r) => r.product_id)],
    );
    expect(rows[0]).toMatchObject({ out_of_stock: 0, bought_recently: 0, ranked: true });
    // Every customer with a purchase or a storefront event up to the date has a list.
    const { rows: interacting } = await warehouse.query(
      `select count(*)::int as n from (
         select c.customer_id from core.fact_order_line f join core.dim_customer c using (customer_key)
          where f.customer_key <> 0 and f.date_key <= 20261120 and f.status not in ('cancelled', 'returned')
         union select user_id from staging.raw_events) u`,
    );
    expect(rows[0].customers).toBe(interacting[0].n);
    expect(rows[0].customers).toBeGreaterThan(200);
    expect(rows[0].rows).toBe(rows[0].customers * 20);
  });

  it('relates products by cosine over orders, recomputed here from the order lines', async () => {
    const { rows } = await stack.deps.warehouse.query(
      `with baskets as (
         select distinct f.order_id, p.product_id from core.fact_order_line f
           join core.dim_product p on p.product_key = f.product_key
          where f.customer_key <> 0 and f.status not in ('cancelled', 'returned') and p.source = 'shop'
       ), n as (select product_id, count(*) as n from baskets group by 1),
       pairs as (
         select a.product_id as i, b.product_id as j, count(*) as c
           from baskets a join baskets b on a.order_id = b.order_id and a.product_id <> b.product_id group by 1, 2
       )
       select r.product_id, r.related_product_id, r.score, p.c / sqrt(ni.n * nj.n) as expected
         from mart.related_products r
         join pairs p on p.i = r.product_id and p.j = r.related_product_id
         join n ni on ni.product_id = p.i join n nj on nj.product_id = p.j
        where r.as_of = $1 and r.rank = 1
        order by r.product_id limit 50`,
      [DATE],
    );
    expect(rows.length).toBe(50);
    for (const row of rows) expect(row.score).toBeCloseTo(Number(row.expected), 5);
  });

  it('counts products carted in the same storefront session as bought together', async () => {
    const answer = await get(`/v1/products/${sessionPair[0]}/related?limit=5`);
    expect(answer.status).toBe(200);
    expect(answer.body.fallback).toBe(false);
    expect(answer.body.items[0]).toEqual({ product_id: sessionPair[1], score: 1 });
  });

  it('serves a known customer their list of the latest version, limited', async () => {
    const { rows } = await stack.deps.warehouse.query<{
      customer_id: string;
      product_id: string;
      score: number;
    }>(
      `select customer_id, product_id, score from mart.recommendations
        where as_of = $1 and customer_id = (select min(customer_id) from mart.recommendations where as_of = $1)
        order by rank limit 7`,
      [DATE],
    );
    const answer = await get(`/v1/customers/${rows[0].customer_id}/recommendations?limit=7`);
    expect(answer).toEqual({
      status: 200,
      body: {
        customer_id: rows[0].customer_id,
        source: 'shop',
        model_version: versionId,
        fallback: false,
        items: rows.map((r) => ({ product_id: r.product_id, score: r.score })),
      },
    });
    expect((await get(`/v1/customers/${rows[0].customer_id}/recommendations`)).body.items).toHaveLength(10);
  });

  it('answers from its cache the same JSON as from the warehouse, cut to any limit', async () => {
    const { rows } = await stack.deps.warehouse.query<{ customer_id: string }>(
      `select max(customer_id) as customer_id from mart.recommendations where as_of = $1`,
      [DATE],
    );
    const id = rows[0].customer_id;
    const fresh = await fetch(`${url}/v1/customers/${id}/recommendations?limit=20`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(fresh.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const whole = (await fresh.json()) as Answer['body'];
    expect(whole.items).toHaveLength(20);
    for (const limit of [1, 3, 20]) {
      const cached = await get(`/v1/customers/${id}/recommendations?limit=${limit}`);
      expect(cached.body).toEqual({ ...whole, items: whole.items.slice(0, limit) });
    }
    const unknown = `never-seen ${'"quoted" \\ ü'}`;
    const popular = await get(`/v1/customers/${encodeURIComponent(unknown)}/recommendations?limit=2`);
    const again = await get(`/v1/customers/${encodeURIComponent(unknown)}/recommendations?limit=4`);
    expect(popular.body.customer_id).toBe(unknown);
    expect(again.body).toEqual({ ...popular.body, items: again.body.items.slice(0, 4) });
    expect(again.body.items.slice(0, 2)).toEqual(popular.body.items);
    expect(again.body.items).toHaveLength(4);
  });

  it('gives an unknown customer the popular products, never an error', async () => {
    const { rows } = await stack.deps.warehouse.query<{ product_id: string; score: number }>(
      `select product_id, score from mart.popular_products where as_of = $1 and category = '' order by rank limit 10`,
      [DATE],
    );
    const answer = await get(`/v1/customers/${encodeURIComponent('nobody ünknown')}/recommendations`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      customer_id: 'nobody ünknown',
      model_version: versionId,
      fallback: true,
    });
    expect(answer.body.items).toEqual(rows.map((r) => ({ product_id: r.product_id, score: r.score })));
    expect((await get(`/v1/products/no-such-product/related`)).body.fallback).toBe(true);
  });

  it('refuses a bad limit or id with a 400 that says how to fix it, and a missing token with a 401', async () => {
    for (const limit of ['0', '21', 'ten', '-1', '2.5']) {
      const answer = await get(`/v1/customers/1/recommendations?limit=${limit}`);
      expect(answer.status).toBe(400);
      expect(answer.body.message).toBe(`limit must be a whole number from 1 to 20, not "${limit}"`);
    }
    const badId = await get(`/v1/products/${encodeURIComponent('a\u0001b')}/related`);
    expect(badId.status).toBe(400);
    expect(badId.body.message).toMatch(/product_id must be 1 to 200 characters, without control characters/);
    expect((await get(`/v1/customers/${'x'.repeat(201)}/recommendations`)).status).toBe(400);
    expect((await get('/v1/customers/1/recommendations', null)).status).toBe(401);
    expect((await get('/v1/customers/1/recommendations', 'wrong')).status).toBe(401);
  });

  it('switches versions atomically: every read during a switch is one version whole', async () => {
    const { warehouse } = stack.deps;
    const { rows } = await warehouse.query<{ customer_id: string }>(
      `select customer_id from mart.recommendations where as_of = $1 and rank = 1 order by customer_id limit 20`,
      [DATE],
    );
    const customers = rows.map((r) => r.customer_id);
    const before = new Map<string, string>();
    for (const c of customers)
      before.set(c, JSON.stringify((await get(`/v1/customers/${c}/recommendations`)).body.items));
    // A new version for the next day whose lists are the old ones reversed, written in one transaction.
    const next = '2026-11-21';
    const switchVersion = async () => {
      const db = await warehouse.connect();
      try {
        await db.query('begin');
        const { rows: inserted } = await db.query<{ version_id: number }>(
          `insert into ops.model_versions (model, as_of, status, backend, code_version)
           values ('recommendations', $1, 'succeeded', 'test', 'test') returning version_id::int`,
          [next],
        );
        for (const table of ['mart.recommendations', 'mart.popular_products'])
          await db.query(
            `insert into ${table} select $1::date, source, ${table.endsWith('recommendations') ? 'customer_id' : 'category'},
                    21 - rank, product_id, -score, ${table.endsWith('recommendations') ? 'method, ' : ''}$2
               from ${table} where as_of = $3 and rank <= 20`,
            [next, inserted[0].version_id, DATE],
          );
        await new Promise((resolve) => setTimeout(resolve, 200));
        await db.query('commit');
        return inserted[0].version_id;
      } finally {
        db.release();
      }
    };
    const answers: Answer[] = [];
    let switching = true;
    const readers = Array.from({ length: 4 }, async () => {
      while (switching)
        for (const c of customers) answers.push(await get(`/v1/customers/${c}/recommendations?limit=20`));
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const newVersion = await switchVersion();
    await new Promise((resolve) => setTimeout(resolve, 100));
    switching = false;
    await Promise.all(readers);
    const versions = new Set(answers.map((a) => a.body.model_version));
    expect(versions).toEqual(new Set([versionId, newVersion]));
    const { rows: lists } = await warehouse.query<{ version_id: number; customer_id: string; items: string }>(
      `select version_id::int, customer_id,
              json_agg(json_build_object('product_id', product_id, 'score', score) order by rank)::text as items
         from mart.recommendations where version_id = any($1) and customer_id = any($2)
        group by 1, 2`,
      [[versionId, newVersion], customers],
    );
    const listOf = new Map(lists.map((l) => [`${l.version_id} ${l.customer_id}`, JSON.parse(l.items)]));
    expect(answers.length).toBeGreaterThan(40);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.items).toEqual(
        listOf.get(`${answer.body.model_version} ${answer.body.customer_id}`),
      );
    }
    expect(before.size).toBe(20);
    // Back to the fit's version once the switched one is gone, and the server's poll has seen it.
    await warehouse.query(`delete from ops.model_versions where version_id = $1`, [newVersion]);
    await new Promise((resolve) => setTimeout(resolve, 3 * VERSION_POLL_MS));
    const after = await get(`/v1/customers/${customers[0]}/recommendations`);
    expect(after.body.model_version).toBe(versionId);
    expect(JSON.stringify(after.body.items)).toBe(before.get(customers[0]));
  });
});
