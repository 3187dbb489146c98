/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { createLogger } from '../../lib/log';
import { createMailer } from '../../lib/mailer';
import { buildServer } from '../../server/app';
import { chartData, launchBrowser, type ChartWindow } from '../helpers/browser';
import { makeEvent, startCartStack, TEST_TOKEN, type CartStack } from '../helpers/carts';
import { simulateShop } from '../../simulator';
import { runDailyPipeline } from '../helpers/pipeline';

const DASHBOARD_TOKEN = 'browser-dashboard-token';
const DATE = '2026-11-20';
const sum = (values: (number | null)[]) => values.reduce((s: number, v) => s + (v ?? 0), 0);
/** A chart each tab draws once its data is on the page (the Outbox has none: its table). */
const TAB_CHARTS: Record<string, string> = {
  live: 'revenue',
  sales: 'monthly-revenue',
  customers: 'growth',
  forecast: 'forecast',
  retargeting: 'conversion',
  pipeline: 'pipeline-durations',
  outbox: '',
};

/**
 * The dashboard in a real Chromium against the real server on the test Postgres: sign-in, a purchase
 * posted through the events API appearing in the live charts (the delay measured), a duplicate and a
 * late event, a restart of the server, every tab with data and no console error, nothing loaded from
 * another host, and a phone-sized screen. The charts are Chart.js: the test reads what each chart
 * holds through Chart.getChart. Events go through the stack's own server (stack.post); the page's
 * server hears of them through Postgres, as every server of one warehouse does.
 * CARTFLOW_SCREENSHOT_DIR, when set, receives a screenshot of every tab (dashboard-<tab>.png, -phone.png at 390 px).
 */
describe('the dashboard in a real browser', () => {
  let stack: CartStack;
  let browser: Browser;
  let page: Page;
  let server: FastifyInstance;
  let port: number;
  const consoleErrors: string[] = [];
  /** Every URL the page asked for: all of them must be the server's own. */
  const requested: string[] = [];

  const startServer = async () => {
    server = buildServer({
      warehouse: stack.deps.warehouse,
      shop: stack.deps.shop,
      temporal: stack.client,
      smtpUrl: stack.smtpUrl,
      mailDir: stack.mailDir,
      carts: {
        config: stack.deps.config,
        ingestToken: TEST_TOKEN,
        logger: createLogger('error'),
        taskQueue: stack.taskQueue,
        relayIntervalMs: 0,
      },
      dashboard: { token: DASHBOARD_TOKEN },
    });
    await server.listen({ port, host: '127.0.0.1' });
    const address = server.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  };
  const url = () => `http://127.0.0.1:${port}`;
  const post = (events: unknown[]) => stack.post({ events });
  const charted = (name: string) => chartData(page, name);
  /** Opens a tab (the analytical ones as of DATE) and waits for its chart, or the Outbox's table. */
  const openTab = async (tab: string, chart: string) => {
    await page.click(`nav button[data-tab="${tab}"]`);
    if (
      ['sales', 'customers', 'forecast', 'retargeting'].includes(tab) &&
      (await page.inputValue('#date')) !== DATE
    )
      await page.fill('#date', DATE);
    await page.waitForSelector(chart ? `canvas[data-chart="${chart}"]` : '[data-table="outbox"]', {
      timeout: 10_000,
    });
    expect(await page.locator('#page .error').allTextContents()).toEqual([]);
    await screenshot(tab);
  };
  /** With CARTFLOW_SCREENSHOT_DIR: the page as dashboard-<tab>.png (-phone.png when narrow). */
  const screenshot = async (tab: string) => {
    const folder = process.env.CARTFLOW_SCREENSHOT_DIR;
    if (!folder) return;
    fs.mkdirSync(folder, { recursive: true });
    await page.waitForTimeout(300);
    const phone = (page.viewportSize()?.width ?? 1280) < 600 ? '-phone' : '';
    await page.screenshot({ path: path.join(folder, `dashboard-${tab}${phone}.png`), fullPage: true });
  };
  /** What the page drew: the product's revenue, the revenue chart's total, the count of live updates. */
  const drawn = async (productId: string) => {
    const [products, revenue, updates] = await Promise.all([
      charted('products'),
      charted('revenue'),
      page.evaluate(() => (window as unknown as { cartflowLive: { updates: number } }).cartflowLive.updates),
    ]);
    const i = products?.labels.findIndex((label) => label.includes(productId)) ?? -1;
    return {
      product: i >= 0 ? products!.datasets[0].data[i] : null,
      total: (revenue?.datasets[0].data ?? []).reduce((sum: number, v) => sum + Number(v ?? 0), 0),
      updates,
    };
  };
  /** Waits until the live product chart has a bar for the product. */
  const productShown = (productId: string, timeout = 5000) =>
    page.waitForFunction(
      (id) => {
        const canvas = document.querySelector('canvas[data-chart="products"]');
        const chart = canvas && (window as unknown as ChartWindow).Chart.getChart(canvas);
        return Boolean(chart?.data.labels.some((label) => String(label).includes(id)));
      },
      productId,
      { timeout, polling: 'raf' },
    );

  beforeAll(async () => {
    browser = await launchBrowser();
    // Five best sellers' forecasts, not fifty: the Forecast tab's figures, in less time.
    stack = await startCartStack('dashboard_browser', {
      CARTFLOW_SESSION_IDLE: '1h',
      CARTFLOW_FORECAST_PRODUCTS: '5',
    });
    port = 0;
    await startServer();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    page.on('request', (request) => requested.push(request.url()));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await stack?.stop();
  });

  it('asks for the dashboard token, refuses the ingest token, and signs in', async () => {
    await page.goto(`${url()}/`);
    await page.waitForSelector('#sign-in:not([hidden])');
    const refused = await page.evaluate(async () => (await fetch('/api/sales')).status);
    expect(refused).toBe(401);
    await page.fill('#token', TEST_TOKEN);
    await page.click('#sign-in button[type=submit]');
    await page.waitForFunction(() => document.getElementById('sign-in-error')?.textContent !== '');
    expect(await page.textContent('#sign-in-error')).toMatch(/not the dashboard token/);
    await page.fill('#token', DASHBOARD_TOKEN);
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector('canvas[data-chart="revenue"]');
    // The live stream is open once it drew its first snapshot.
    await page.waitForFunction(
      () => (window as unknown as { cartflowLive: { updates: number } }).cartflowLive.updates >= 2,
    );
    // The refusals above are what the browser logs as failed loads (401); from here on none is expected.
    expect(consoleErrors.every((e) => /status of 401/.test(e))).toBe(true);
    consoleErrors.length = 0;
  });

  it('shows a purchase posted through the events API in the product and revenue charts within 2 s', async () => {
    const product = `p-${crypto.randomUUID().slice(0, 8)}`;
    const before = await drawn(product);
    expect(before.product).toBeNull();
    const sent = Date.now();
    const response = await post([
      makeEvent({ event_type: 'purchase', product_id: product, price: 19.5, quantity: 2 }),
    ]);
    const accepted = Date.now();
    expect(response).toEqual({ status: 202, body: { accepted: 1, duplicates: 0 } });
    await productShown(product);
    const shown = Date.now();
    process.stdout.write(
      `dashboard: purchase on the page ${shown - sent} ms after POST was sent (${shown - accepted} ms after its 202)\n`,
    );
    expect(shown - sent).toBeLessThan(2000);
    const after = await drawn(product);
    expect(after.product).toBe(39);
    // The bar is labelled on the chart's axis, though the chart was built before the product sold.
    const ticks = await page.evaluate(() => {
      const canvas = document.querySelector('canvas[data-chart="products"]')!;
      const chart = (window as unknown as ChartWindow).Chart.getChart(canvas) as unknown as {
        scales: { y: { ticks: { label: string }[] } };
      };
      return chart.scales.y.ticks.map((t) => t.label);
    });
    expect(ticks).toContain(product);
    expect(after.total - before.total).toBeCloseTo(39, 2);
  });

  it('counts a duplicate once, and puts a late event in the bucket of its event time', async () => {
    const product = `dup-${crypto.randomUUID().slice(0, 8)}`;
    const purchase = makeEvent({ event_type: 'purchase', product_id: product, price: 10 });
    await post([purchase]);
    await productShown(product);
    const once = await drawn(product);
    expect(once.product).toBe(10);
    expect((await post([purchase, purchase])).body).toEqual({ accepted: 0, duplicates: 2 });
    // A view after the duplicates makes the page redraw; the product and revenue must not have moved.
    await post([makeEvent({ event_type: 'view', product_id: product })]);
    await page.waitForFunction(
      (n) => (window as unknown as { cartflowLive: { updates: number } }).cartflowLive.updates > n,
      once.updates,
    );
    const still = await drawn(product);
    expect(still.product).toBe(10);
    expect(still.total).toBeCloseTo(once.total, 2);

    // An event 17 minutes old arriving now: in the 5-minute bucket of its own time (today's first
    // bucket at the latest, when the test runs just after midnight).
    const todayStart = Date.parse(
      await page.evaluate(
        () =>
          (window as unknown as { cartflowLive: { snapshot: { todayStart: string } } }).cartflowLive.snapshot
            .todayStart,
      ),
    );
    const lateTime = Math.max(Date.now() - 17 * 60_000, todayStart);
    // The revenue chart has one bar per 5-minute bucket from the start of today.
    const bucket = Math.floor((lateTime - todayStart) / 300_000);
    const valueOf = async () => Number((await charted('revenue'))?.datasets[0].data[bucket] ?? 0);
    const beforeLate = await valueOf();
    await post([
      makeEvent({
        event_type: 'purchase',
        event_time: new Date(lateTime).toISOString(),
        price: 7,
        quantity: 3,
      }),
    ]);
    await page.waitForFunction(
      ([b, v]) => {
        const canvas = document.querySelector('canvas[data-chart="revenue"]');
        const chart = canvas && (window as unknown as ChartWindow).Chart.getChart(canvas);
        return Number(chart?.data.datasets[0].data[b] ?? 0) > v;
      },
      [bucket, beforeLate] as const,
    );
    expect((await valueOf()) - beforeLate).toBeCloseTo(21, 2);
  });

  it('keeps its figures across a restart of the server, and the open page reconnects on its own', async () => {
    const before = await drawn('none');
    await server.close();
    await startServer();
    const product = `after-${crypto.randomUUID().slice(0, 8)}`;
    // The page's EventSource retries within 2 s; a purchase posted after that is pushed as before.
    await page.waitForFunction(
      (n) => (window as unknown as { cartflowLive: { updates: number } }).cartflowLive.updates > n,
      before.updates,
      { timeout: 10_000 },
    );
    const reconnected = await drawn(product);
    expect(reconnected.total).toBeCloseTo(before.total, 2);
    await post([makeEvent({ event_type: 'purchase', product_id: product, price: 5 })]);
    await productShown(product);
    expect((await drawn(product)).total - before.total).toBeCloseTo(5, 2);
    // Reloading after the restart shows the same figures: they are in Postgres, not in the server.
    await page.reload();
    await productShown(product);
    expect((await drawn(product)).total - before.total).toBeCloseTo(5, 2);
  });

  it('shows the Sales, Customers, Forecast, Retargeting, Pipeline and Outbox tabs with the figures of the warehouse', async () => {
    // 180 days of a simulated shop: enough history for every model, the forecasts included.
    await simulateShop(stack.deps.shop, { customers: 500, days: 180, seed: 15, endDate: DATE });
    // Payments of the day after: two captured, one refunded, one failed (worth nothing).
    await stack.deps.shop.query(
      `insert into payments (payment_id, order_id, amount, method, status, paid_at) values
         (900001, 1, 40.00, 'card', 'captured', '2026-11-21T09:00:00Z'), (900002, 2, 25.50, 'card', 'captured', '2026-11-21T10:00:00Z'),
         (900003, 3, 10.25, 'card', 'refunded', '2026-11-21T11:00:00Z'), (900004, 4, 99.00, 'card', 'failed', '2026-11-21T12:00:00Z')`,
    );
    const result = await runDailyPipeline(stack.worker!, {
      date: DATE,
      models: ['rfm', 'clusters', 'growth', 'clv', 'forecast', 'stock'],
      modelTaskQueue: stack.worker!.taskQueues.ml,
    });
    expect(result.summary.status).toBe('succeeded');
    expect(result.summary.models?.map((m) => [m.model, m.status, m.error])).toEqual(
      ['rfm', 'clusters', 'growth', 'clv', 'forecast', 'stock'].map((m) => [m, 'succeeded', undefined]),
    );
    const warehouse = stack.deps.warehouse;
    const one = async <T>(sql: string, params: unknown[] = []) =>
      (await warehouse.query<T & pg.QueryResultRow>(sql, params)).rows[0];

    // Live: the settled payments of the last day the daily run loaded, beside the live revenue.
    await page.click('nav button[data-tab="live"]');
    await page.waitForFunction(
      () => /2026-11-21/.test(document.querySelector('[data-kpi="payments"]')?.textContent ?? ''),
      undefined,
      { timeout: 40_000 },
    );
    expect(await page.textContent('[data-kpi="payments"] .value')).toBe(
      (55.25).toLocaleString('en-US', { minimumFractionDigits: 2 }),
    );
    expect(await page.textContent('[data-kpi="payments"]')).toMatch(/2 captured, 1 refunded/);
    await screenshot('live');

    // Sales: the monthly revenue chart adds up to the order facts' revenue.
    await openTab('sales', 'monthly-revenue');
    const sold = await one<{ revenue: number }>(
      `select round(sum(net_amount), 2)::float8 as revenue from core.fact_order_line where status not in ('cancelled', 'returned')`,
    );
    const monthly = (await charted('monthly-revenue'))!;
    expect(sum(monthly.datasets[0].data)).toBeCloseTo(sold.revenue, 1);
    const orders = await one<{ placed: number; cancelled: number }>(
      `select count(*) filter (where sold)::int as placed, count(*) filter (where not sold)::int as cancelled
         from (select order_id, bool_or(status not in ('cancelled', 'returned')) as sold
                 from core.fact_order_line group by order_id) o`,
    );
    expect(orders.cancelled).toBeGreaterThan(0);
    const ordersChart = (await charted('orders'))!;
    expect([sum(ordersChart.datasets[0].data), sum(ordersChart.datasets[1].data)]).toEqual([
      orders.placed,
      orders.cancelled,
    ]);
    expect(sum((await charted('order-values'))!.datasets[0].data)).toBe(orders.placed);

    // Customers: the treemap's tiles are the RFM segments; clusters, growth and CLV from their marts.
    await openTab('customers', 'growth');
    const rfm = await one<{ n: number }>(`select count(*)::int as n from mart.rfm where as_of = $1`, [DATE]);
    const tiles = await page.$$eval('[data-chart="segments"] [data-label]', (nodes) =>
      nodes.map((n) => Number(n.getAttribute('data-value'))),
    );
    expect(sum(tiles)).toBe(rfm.n);
    const centroids = await one<{ n: number; customers: number }>(
      `select count(*)::int as n, sum(customers)::int as customers from mart.cluster_centroids where as_of = $1`,
      [DATE],
    );
    expect((await charted('clusters'))!.datasets.length).toBe(centroids.n);
    const growth = await one<{ months: number; new: number }>(
      `select count(*)::int as months, sum(new)::int as new from mart.growth where as_of = $1`,
      [DATE],
    );
    const growthChart = (await charted('growth'))!;
    expect(growthChart.labels.length).toBe(growth.months);
    expect(sum(growthChart.datasets.find((d) => d.label === 'new')!.data)).toBe(growth.new);
    const clv = await one<{ n: number }>(
      `select count(*)::int as n from mart.clv where as_of = $1 and clv is not null`,
      [DATE],
    );
    expect(sum((await charted('clv'))!.datasets[0].data)).toBe(clv.n);
    await page.waitForSelector('[data-table="rfm-segments"] a.download');
    const csvHref = await page.getAttribute('[data-table="rfm-segments"] a.download', 'href');
    expect(csvHref).toBe(`/api/export/rfm.csv?date=${DATE}`);
    const csv = await page.evaluate(async (href) => (await fetch(href!)).text(), csvHref);
    expect(csv.split('\n')[0]).toMatch(/^as_of,source,customer_id/);

    // Forecast: the 30 days ahead and their intervals are mart.forecast's, the stock outlook its mart's.
    await openTab('forecast', 'forecast');
    const forecast = (
      await warehouse.query<{ date: string; point: number; lower_95: number; upper_80: number }>(
        `select to_char(date, 'YYYY-MM-DD') as date, round(point::numeric, 2)::float8 as point,
                round(lower_95::numeric, 2)::float8 as lower_95, round(upper_80::numeric, 2)::float8 as upper_80
           from mart.forecast where as_of = $1 and series = 'revenue' and product_id = '' order by date`,
        [DATE],
      )
    ).rows;
    expect(forecast.length).toBe(30);
    const drawnForecast = (await charted('forecast'))!;
    const at = (label: string) => {
      const d = drawnForecast.datasets.find((x) => x.label === label)!;
      return forecast.map((f) => d.data[drawnForecast.labels.indexOf(f.date)]);
    };
    expect(at('forecast')).toEqual(forecast.map((f) => f.point));
    expect(at('95% interval')).toEqual(forecast.map((f) => f.lower_95));
    expect(at('upper 80%')).toEqual(forecast.map((f) => f.upper_80));
    // 60 days of actuals up to the date, none after it.
    const actual = drawnForecast.datasets.find((x) => x.label === 'actual')!.data;
    expect(actual.filter((v) => v !== null).length).toBe(60);
    const backtest = (await charted('backtest'))!;
    expect(backtest.labels.filter((l) => l.endsWith('(served)')).length).toBe(1);
    expect(backtest.datasets[0].data.every((v) => typeof v === 'number' && v >= 0)).toBe(true);
    const stock = await one<{ n: number }>(
      `select least(count(*), 25)::int as n from mart.stock_outlook where as_of = $1`,
      [DATE],
    );
    expect(stock.n).toBeGreaterThan(0);
    expect(await page.locator('[data-table="stock-outlook"] tbody tr').count()).toBe(stock.n);

    // Retargeting: ten abandoned carts decided on 2026-11-18 — four e-mailed (two bought, 12.50 and
    // 7.50 recovered), three held out (one bought), three suppressed (two without consent, one capped).
    const carts: [string, string, string | null, number | null][] = [
      ['sent', '', null, 12.5],
      ['sent', '', null, 7.5],
      ['sent', '', null, null],
      ['sent', '', null, null],
      ['held_out', 'holdout', null, 9],
      ['held_out', 'holdout', null, null],
      ['held_out', 'holdout', null, null],
      ['suppressed', 'no_consent', null, null],
      ['suppressed', 'no_consent', null, null],
      ['suppressed', 'frequency_cap', null, null],
    ];
    for (const [i, [decision, reason, , recovered]] of carts.entries()) {
      const id = `rt-${i}`;
      await warehouse.query(
        `insert into core.fact_cart_session (cart_id, user_session, user_id, started_at, last_event_at, abandoned_at,
           abandoned_date, outcome, item_count, units, cart_value, events, purchased_at, purchase_value)
         values ($1, $1, '1', '2026-11-18T09:00:00Z', '2026-11-18T09:10:00Z', '2026-11-18T10:00:00Z', '2026-11-18',
                 $2, 1, 1, 20, 3, $3, $4)`,
        [
          id,
          recovered === null ? 'abandoned' : 'recovered',
          recovered === null ? null : '2026-11-19T08:00:00Z',
          recovered,
        ],
      );
      await warehouse.query(
        `insert into core.fact_retargeting (cart_id, kind, user_session, decided_at, decision, reason, offer_type,
           offer_code, cart_value, item_count, sent_at, converted_at, recovered_revenue)
         values ($1, 'abandoned', $1, '2026-11-18T10:00:00Z', $2, nullif($3, ''), 'free_shipping', $4, 20, 1,
                 case when $2 = 'sent' then timestamptz '2026-11-18T10:01:00Z' end,
                 case when $5::numeric is not null then timestamptz '2026-11-19T08:00:00Z' end, $5)`,
        [id, decision, reason, `CODE-${id}`, recovered],
      );
    }
    await openTab('retargeting', 'conversion');
    const kpiValue = (name: string) => page.textContent(`[data-kpi="${name}"] .value`);
    expect(await kpiValue('emailed-conversion')).toBe('50.0%');
    expect(await kpiValue('holdout-conversion')).toBe('33.3%');
    expect(await kpiValue('uplift')).toBe('16.7%');
    expect(await kpiValue('recovered-revenue')).toBe('29.00');
    const daily = (await charted('retargeting-daily'))!;
    const day = daily.labels.indexOf('11-18');
    expect(daily.datasets.map((d) => [d.label, d.data[day]])).toEqual([
      ['abandoned', 10],
      ['e-mailed', 4],
      ['recovered', 0],
    ]);
    expect(daily.datasets[2].data[daily.labels.indexOf('11-19')]).toBe(3);
    const decisions = (await charted('decisions'))!;
    expect(Object.fromEntries(decisions.labels.map((l, i) => [l, decisions.datasets[0].data[i]]))).toEqual({
      'held_out (holdout)': 3,
      sent: 4,
      'suppressed (frequency_cap)': 1,
      'suppressed (no_consent)': 2,
    });
    const conversion = (await charted('conversion'))!;
    expect(conversion.datasets[0].data[0]).toBeCloseTo(50, 6);
    expect(conversion.datasets[0].data[1]).toBeCloseTo(100 / 3, 6);
    // The Wilson interval of 2 of 4 starts at 15.0%.
    expect(conversion.datasets[1].data[0]).toBeCloseTo(15.0, 0);

    // Pipeline: the run, its rows and its duration.
    await openTab('pipeline', 'pipeline-durations');
    const run = await one<{ duration_s: number }>(
      `select round(extract(epoch from finished_at - started_at)::numeric, 1)::float8 as duration_s
         from ops.pipeline_runs where pipeline_date = $1`,
      [DATE],
    );
    const durations = (await charted('pipeline-durations'))!;
    expect(durations.labels).toEqual([`${DATE} succeeded`]);
    expect(durations.datasets[0].data).toEqual([run.duration_s]);
    expect(await page.textContent('[data-table="pipeline-runs"] tbody tr')).toContain(DATE);

    // Outbox: an e-mail through the real SMTP sink, listed and rendered.
    const mailer = createMailer(stack.smtpUrl);
    await mailer.sendMail({
      from: 'shop@example.com',
      to: 'owner@example.com',
      subject: 'Outbox test',
      html: '<p>Your cart is waiting</p>',
    });
    mailer.close();
    await page.click('nav button[data-tab="outbox"]');
    await page.waitForSelector('[data-table="outbox"] tbody tr');
    await screenshot('outbox');
    expect(await page.textContent('[data-table="outbox"] tbody tr')).toContain('Outbox test');
    const frame = page.frameLocator('iframe');
    await expect(frame.locator('p').textContent()).resolves.toBe('Your cart is waiting');
    // Without signing in, the outbox's short addresses lead to the sign-in and show no message.
    const outbox = (await (
      await fetch(`${url()}/api/outbox`, { headers: { authorization: `Bearer ${DASHBOARD_TOKEN}` } })
    ).json()) as { mails: { id: string; subject: string }[] };
    const mail = outbox.mails.find((m) => m.subject === 'Outbox test')!;
    const listing = await fetch(`${url()}/mail`, { redirect: 'manual' });
    expect([listing.status, listing.headers.get('location')]).toEqual([302, '/#outbox']);
    const anonymous = await fetch(`${url()}/mail/${mail.id}`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('Your cart is waiting');

    expect(await page.locator('#page .error').allTextContents()).toEqual([]);
    expect(consoleErrors).toEqual([]);
  }, 300_000);

  it('is usable on a phone-sized screen: every tab without horizontal overflow', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [tab, chart] of Object.entries(TAB_CHARTS)) {
      await openTab(tab, chart);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect([tab, overflow]).toEqual([tab, expect.any(Number)]);
      expect(overflow).toBeLessThanOrEqual(1);
      // The charts fit the screen too.
      const widest = await page.$$eval('canvas', (nodes) =>
        Math.max(0, ...nodes.map((n) => n.getBoundingClientRect().right)),
      );
      expect(widest).toBeLessThanOrEqual(390);
    }
    expect(consoleErrors).toEqual([]);
  }, 120_000);

  it('loaded everything from the server itself: no request to another host', () => {
    const origin = url();
    expect(requested.length).toBeGreaterThan(10);
    expect(requested.filter((r) => !r.startsWith(`${origin}/`) && !r.startsWith('blob:'))).toEqual([]);
    expect(requested.some((r) => /\/dashboard\/vendor\/chart-4\.\d+\.\d+\.umd\.min\.js$/.test(r))).toBe(true);
  });
});
