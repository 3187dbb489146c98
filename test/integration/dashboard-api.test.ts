import crypto from 'node:crypto';
import fs from 'node:fs';
import { chartJsAsset } from '../../server/dashboard';
import { exportMart } from '../../lib/mart-export';
import { fillShop, runDailyPipeline } from '../helpers/pipeline';
import { makeEvent, startCartStack, TEST_TOKEN, type CartStack } from '../helpers/carts';
import { Writable } from 'node:stream';

const DASHBOARD_TOKEN = 'dashboard-test-token';

describe('the dashboard API on real Postgres: sign-in, every tab, CSV, the live stream', () => {
  let stack: CartStack;
  let cookie: string;

  beforeAll(async () => {
    stack = await startCartStack('dashboard_api', {
      CARTFLOW_SESSION_IDLE: '1h',
      CARTFLOW_DASHBOARD_TOKEN: DASHBOARD_TOKEN,
    });
  });
  afterAll(async () => stack?.stop());

  const get = async (path: string, headers: Record<string, string> = { cookie }) => {
    const response = await fetch(`${stack.url}${path}`, { headers });
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { text };
    }
    return { status: response.status, headers: response.headers, body };
  };

  it('refuses every data route without the dashboard token, the ingest token included', async () => {
    for (const path of ['/api/live', '/api/live/stream', '/api/sales', '/api/export/rfm.csv']) {
      expect((await get(path, {})).status).toBe(401);
      expect((await get(path, { authorization: `Bearer ${TEST_TOKEN}` })).status).toBe(401);
    }
    const wrong = await fetch(`${stack.url}/api/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TEST_TOKEN }),
    });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { message: string }).message).toMatch(/CARTFLOW_DASHBOARD_TOKEN/);

    const right = await fetch(`${stack.url}/api/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: DASHBOARD_TOKEN }),
    });
    expect(right.status).toBe(200);
    const setCookie = right.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).not.toContain(DASHBOARD_TOKEN);
    cookie = setCookie.split(';')[0];
    expect((await get('/api/live')).status).toBe(200);
    expect((await get('/api/live', { authorization: `Bearer ${DASHBOARD_TOKEN}` })).status).toBe(200);
    expect((await get('/api/live', { cookie: `${cookie}x` })).status).toBe(401);
  });

  it('serves the page and its assets from the server itself, loading nothing from another host', async () => {
    const index = await get('/', {});
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    expect(index.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const html = String(index.body.text);
    for (const tab of ['Live', 'Sales', 'Customers', 'Forecast', 'Retargeting', 'Pipeline', 'Outbox'])
      expect(html).toContain(`>${tab}<`);
    for (const asset of ['dashboard.js', 'dashboard.css']) {
      const response = await get(`/dashboard/${asset}`, {});
      expect(response.status).toBe(200);
      expect(String(response.body.text)).not.toMatch(/https?:\/\//);
    }
    // The charting library: Chart.js from the installed package, at a path naming its version, cached
    // for a year; the page names it, and the hand-written charts it replaced are gone.
    const chartJs =
      /<script src="(\/dashboard\/vendor\/chart-(\d+\.\d+\.\d+)\.umd\.min\.js)"><\/script>/.exec(html);
    expect(chartJs?.[2]).toBe(chartJsAsset().version);
    const library = await get(chartJs![1], {});
    expect(library.status).toBe(200);
    expect(library.headers.get('content-type')).toMatch(/javascript/);
    expect(library.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(String(library.body.text)).toBe(fs.readFileSync(chartJsAsset().file, 'utf8'));
    expect(String(library.body.text)).toMatch(/^\/\*!\s*\n?\s*\* Chart\.js v4\./);
    expect((await get('/dashboard/charts.js', {})).status).toBe(404);
    expect((await get('/dashboard/..%2Fapp.ts', {})).status).toBe(404);
  });

  it('says which command produces each tab whose model has not run, and refuses a malformed date', async () => {
    const customers = await get('/api/customers');
    expect(customers.status).toBe(200);
    expect(customers.body.rfm).toEqual({
      missing: expect.objectContaining({ command: 'cartflow run daily', mart: 'mart.rfm' }),
    });
    expect((await get('/api/forecast?date=2026-11-20')).body).toEqual({
      missing: expect.objectContaining({ command: 'cartflow run daily --date 2026-11-20' }),
    });
    expect((await get('/api/sales')).body.missing).toMatchObject({
      command: expect.stringMatching(/simulate/),
    });
    const bad = await get('/api/sales?date=2026-02-30');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/not a day/);
    expect((await get('/api/export/rfm.csv')).body.message).toMatch(/cartflow run daily/);
    expect((await get('/api/export/nothing.csv')).status).toBe(404);
  });

  it('fills Sales, Customers and Pipeline from a real pipeline run, and streams a mart as cartflow export does', async () => {
    await fillShop(stack.deps.shop, { customers: 60, orders: 400, linesPerOrder: 2, days: 120 });
    // The live tab has no payments before the daily run loads them.
    expect((await get('/api/live')).body.payments).toMatchObject({ day: null, settled: 0 });
    // The shop's payments of 2026-11-19: two captured, one refunded, one failed (worth nothing);
    // and a purchase event of that day, 50.00, which the live aggregates keep.
    await stack.deps.shop.query(
      `insert into payments (payment_id, order_id, amount, method, status, paid_at) values
         (1, 1, 40.00, 'card', 'captured', '2026-11-19T09:00:00Z'), (2, 2, 25.50, 'card', 'captured', '2026-11-19T10:00:00Z'),
         (3, 3, -10.25, 'card', 'refunded', '2026-11-19T11:00:00Z'), (4, 4, 99.00, 'card', 'failed', '2026-11-19T12:00:00Z'),
         (5, 5, 12.00, 'card', 'captured', '2026-11-18T12:00:00Z')`,
    );
    const dayEvent = makeEvent({
      event_type: 'purchase',
      event_time: '2026-11-19T12:00:00Z',
      price: 25,
      quantity: 2,
    });
    expect((await stack.post({ events: [dayEvent] })).status).toBe(202);
    const result = await runDailyPipeline(stack.worker!, { date: '2026-11-20', models: ['rfm', 'growth'] });
    expect(result.summary.status).toBe('succeeded');
    expect((await get('/api/live')).body.payments).toEqual({
      day: '2026-11-19',
      settled: 55.25,
      captured: 2,
      refunded: 1,
      failed: 1,
      eventsRevenue: 50,
      lastRun: '2026-11-20',
    });

    const sales = await get('/api/sales?date=2026-11-20');
    expect(sales.status).toBe(200);
    const monthly = sales.body.monthly as {
      month: string;
      revenue: number;
      orders: number;
      cancelled: number;
    }[];
    // fillShop's statuses cycle through five, two of them (cancelled, returned) not revenue.
    const orders = monthly.reduce((s, m) => s + m.orders, 0);
    const cancelled = monthly.reduce((s, m) => s + m.cancelled, 0);
    expect(orders + cancelled).toBe(400);
    expect(cancelled).toBe(160);
    const { rows } = await stack.deps.warehouse.query<{ revenue: number }>(
      `select round(sum(net_amount), 2)::float8 as revenue from core.fact_order_line where status not in ('cancelled', 'returned')`,
    );
    expect(monthly.reduce((s, m) => s + m.revenue, 0)).toBeCloseTo(rows[0].revenue, 1);
    expect((sales.body.distribution as { orders: number }[]).reduce((s, b) => s + b.orders, 0)).toBe(240);
    expect((sales.body.byCategory as unknown[]).length).toBe(7);

    const customers = await get('/api/customers?date=2026-11-20');
    const rfm = customers.body.rfm as { asOf: string; segments: { customers: number }[] };
    expect(rfm.asOf).toBe('2026-11-20');
    const { rows: rfmRows } = await stack.deps.warehouse.query<{ n: number }>(
      `select count(*)::int as n from mart.rfm where as_of = '2026-11-20'`,
    );
    expect(rfm.segments.reduce((s, x) => s + x.customers, 0)).toBe(rfmRows[0].n);
    expect((customers.body.growth as { rows: unknown[] }).rows.length).toBeGreaterThan(0);
    expect(customers.body.clv).toEqual({ missing: expect.objectContaining({ mart: 'mart.clv' }) });
    // A date before any run: the mart of no date, and the command for that date.
    expect(
      ((await get('/api/customers?date=2026-01-01')).body.rfm as { missing: unknown }).missing,
    ).toBeTruthy();

    const csv = await fetch(`${stack.url}/api/export/rfm.csv?date=2026-11-20`, {
      headers: { cookie },
    });
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    const served = await csv.text();
    let exported = '';
    await exportMart(
      stack.deps.warehouse,
      'mart.rfm',
      '2026-11-20',
      'csv',
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          exported += chunk.toString('utf8');
          done();
        },
      }),
    );
    expect(served).toBe(exported);
    expect(served.split('\n')[0]).toMatch(/^as_of,source,customer_id/);

    const pipeline = await get('/api/pipeline');
    const runs = pipeline.body.runs as {
      pipeline_date: string;
      status: string;
      rows_loaded: number;
      temporal_url: string;
    }[];
    expect(runs[0]).toMatchObject({ pipeline_date: '2026-11-20', status: 'succeeded' });
    expect(runs[0].rows_loaded).toBeGreaterThan(0);
    const retargeting = await get('/api/retargeting?date=2026-11-20');
    expect(retargeting.status).toBe(200);
    expect((retargeting.body.daily as unknown[]).length).toBe(30);
  }, 240_000);

  it('pushes a purchase accepted by POST /v1/events to an open live stream within 2 s, and a duplicate not at all', async () => {
    const controller = new AbortController();
    const response = await fetch(`${stack.url}/api/live/stream`, {
      headers: { cookie },
      signal: controller.signal,
    });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const snapshots: { products: { productId: string; revenue: number }[]; totals: { revenue: number } }[] =
      [];
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(message);
          if (/^event: live$/m.test(message) && data) snapshots.push(JSON.parse(data[1]));
        }
      }
    })();
    const waitSnapshots = async (n: number, ms: number) => {
      const deadline = Date.now() + ms;
      while (snapshots.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return snapshots.length >= n;
    };
    try {
      expect(await waitSnapshots(1, 5000)).toBe(true);
      const product = `live-${crypto.randomUUID().slice(0, 8)}`;
      const purchase = makeEvent({ event_type: 'purchase', product_id: product, price: 19.5, quantity: 2 });
      const posted = Date.now();
      expect((await stack.post({ events: [purchase] })).status).toBe(202);
      expect(await waitSnapshots(2, 2000)).toBe(true);
      const delay = Date.now() - posted;
      process.stdout.write(`live stream: purchase pushed ${delay} ms after POST /v1/events was sent\n`);
      expect(snapshots[1].products.find((p) => p.productId === product)).toMatchObject({ revenue: 39 });
      expect(snapshots[1].totals.revenue - snapshots[0].totals.revenue).toBeCloseTo(39, 6);
      expect((await stack.post({ events: [purchase] })).body).toEqual({ accepted: 0, duplicates: 1 });
      expect(await waitSnapshots(3, 800)).toBe(false);
    } finally {
      controller.abort();
      await pump;
    }
  });
});
