import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simulateShop } from '../../simulator';
import { ModelsWorkflow } from '../../workflows';
import { runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';
import { testServices } from '../helpers/services';

const ROOT = path.resolve(__dirname, '../..');
const DATE = '2026-11-20';
const EARLIER = '2026-10-15';
const DAY_MS = 86_400_000;
const keyOf = (date: string) => Number(date.replace(/-/g, ''));

interface ForecastRow {
  series: string;
  product_id: string;
  date: string;
  days_ahead: number;
  point: number;
  lower_80: number;
  upper_80: number;
  lower_95: number;
  upper_95: number;
  method: string;
}

describe('the forecasts and the stock outlook in the daily pipeline', () => {
  let stack: PipelineStack;

  const forecastRows = async (asOf: string) =>
    (
      await stack.deps.warehouse.query<ForecastRow>(
        `select series, product_id, to_char(date, 'YYYY-MM-DD') as date, days_ahead, point, lower_80, upper_80,
                lower_95, upper_95, method
           from mart.forecast where as_of = $1 order by series, product_source, product_id, date`,
        [asOf],
      )
    ).rows;

  const version = async (asOf: string) =>
    (
      await stack.deps.warehouse.query(
        `select status, parameters, metrics, backend, output_rows from ops.model_versions
          where model = 'forecast' and as_of = $1 order by version_id desc limit 1`,
        [asOf],
      )
    ).rows[0];

  beforeAll(async () => {
    stack = await startPipelineStack('models-forecast');
    await simulateShop(stack.shop, { customers: 1200, days: 400, seed: 14, endDate: DATE });
    const result = await runDailyPipeline(stack.worker, {
      date: DATE,
      models: ['forecast', 'stock'],
      modelTaskQueue: stack.worker.taskQueues.ml,
    });
    expect(result.summary.models?.map((m) => [m.model, m.status, m.error])).toEqual([
      ['forecast', 'succeeded', undefined],
      ['stock', 'succeeded', undefined],
    ]);
  });

  afterAll(() => stack?.stop());

  it('fills mart.forecast with 30 ordered days per series: revenue, orders and the best sellers', async () => {
    const rows = await forecastRows(DATE);
    const fit = await version(DATE);
    expect(fit).toMatchObject({ status: 'succeeded', backend: expect.stringMatching(/^(wasm|tensorflow)$/) });
    const series = new Set(rows.map((r) => `${r.series}/${r.product_id}`));
    const products = [...series].filter((s) => s.startsWith('units/'));
    expect(series.has('revenue/') && series.has('orders/')).toBe(true);
    expect(products.length).toBe(50);
    expect(rows.length).toBe(series.size * 30);
    expect(Number(fit.output_rows)).toBe(rows.length);
    const first = new Date(Date.parse(`${DATE}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
    expect(rows.filter((r) => r.days_ahead === 1).every((r) => r.date === first)).toBe(true);
    for (const r of rows) {
      expect(r.lower_95).toBeLessThanOrEqual(r.lower_80);
      expect(r.lower_80).toBeLessThanOrEqual(r.point);
      expect(r.point).toBeLessThanOrEqual(r.upper_80);
      expect(r.upper_80).toBeLessThanOrEqual(r.upper_95);
      expect(r.lower_95).toBeGreaterThanOrEqual(0); // orders and units are never negative
    }
    // The intervals widen with the horizon: the last week's 95% band is wider than the first's.
    const orders = rows.filter((r) => r.series === 'orders');
    const width = (from: number, to: number) =>
      orders.slice(from, to).reduce((s, r) => s + r.upper_95 - r.lower_95, 0);
    expect(width(23, 30)).toBeGreaterThan(width(0, 7));
  });

  it('keeps the backtest of every series against both baselines, the orders’ naive computed independently', async () => {
    const fit = await version(DATE);
    const backtests = fit.metrics.backtest as {
      series: string;
      method: string;
      origins: number;
      reason?: string;
      candidate: string;
      additive: { smape: number; mae: number; coverage80: number; coverage95: number };
      served: { smape: number };
      seasonal_naive: { smape: number; mae: number };
      weekday_mean: { smape: number; mae: number };
    }[];
    expect(backtests.length).toBe(52);
    for (const b of backtests) {
      expect(b.origins).toBe(8);
      for (const method of ['additive', 'seasonal_naive', 'weekday_mean'] as const)
        expect(Number.isFinite(b[method].smape) && Number.isFinite(b[method].mae)).toBe(true);
      if (b.method !== 'additive') expect(b.reason).toMatch(/had sMAPE .* against the model's/);
    }
    // Seasonal naive over 8 weekly origins × 7 days scores each of the last 56 days against the day a week earlier.
    const { rows } = await stack.deps.warehouse.query<{ day: string; orders: number }>(
      `select to_char(d.date, 'YYYY-MM-DD') as day,
              count(distinct f.order_id) filter (where f.status not in ('cancelled', 'returned'))::int as orders
         from core.dim_date d left join core.fact_order_line f on f.date_key = d.date_key
        where d.date_key between $1 and $2 group by d.date order by d.date`,
      [
        keyOf(new Date(Date.parse(`${DATE}T00:00:00Z`) - 62 * DAY_MS).toISOString().slice(0, 10)),
        keyOf(DATE),
      ],
    );
    expect(rows.length).toBe(63);
    const errors = rows.slice(7).map((r, i) => Math.abs(r.orders - rows[i].orders));
    const naiveMae = errors.reduce((a, b) => a + b, 0) / errors.length;
    const ordersBacktest = backtests.find((b) => b.series === 'orders')!;
    expect(ordersBacktest.seasonal_naive.mae).toBeCloseTo(naiveMae, 3);
    // The shop-wide series are smooth enough for the model to beat last week's same day.
    expect(ordersBacktest.additive.smape).toBeLessThan(ordersBacktest.seasonal_naive.smape);
    // As served (the combination, or a baseline better by the margin), out of sample too.
    expect(ordersBacktest.served.smape).toBeLessThan(ordersBacktest.seasonal_naive.smape);
    for (const b of backtests)
      expect(b.candidate).toBe(b.method === 'additive' ? 'log1p+none+flat' : b.method);
    expect(fit.metrics.meanSmape).toEqual(
      expect.objectContaining({ additive: expect.any(Number), seasonal_naive: expect.any(Number) }),
    );
    expect(fit.parameters).toMatchObject({ country: 'GB', topProducts: 50, horizonDays: 30 });
  });

  it('ranks every product by its expected units of the week ahead, with its stock from the shop database', async () => {
    const { rows } = await stack.deps.warehouse.query(
      `select o.product_id, o.probability_sells_7d as p, o.expected_units_7d as units, o.stock::float8 as stock,
              o.days_of_stock, o.rank
         from mart.stock_outlook o where o.as_of = $1 order by o.rank`,
      [DATE],
    );
    const shop = await stack.shop.query<{ product_id: string; stock: number }>(
      `select product_id::text as product_id, stock::float8 as stock from products`,
    );
    const stockOf = new Map(shop.rows.map((r) => [r.product_id, r.stock]));
    expect(rows.length).toBeGreaterThan(50);
    expect(rows.map((r) => r.rank)).toEqual(rows.map((_, i) => i + 1));
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      expect(r.p).toBeGreaterThanOrEqual(0);
      expect(r.p).toBeLessThanOrEqual(1);
      if (i > 0) expect(r.units).toBeLessThanOrEqual(rows[i - 1].units);
      expect(r.stock).toBe(stockOf.get(r.product_id));
      expect(r.days_of_stock).toBeCloseTo(Math.max(r.stock, 0) / (r.units / 7), 6);
    }
    const fit = await stack.deps.warehouse.query(
      `select metrics, parameters from ops.model_versions where model = 'stock' and as_of = $1`,
      [DATE],
    );
    const { evaluation } = fit.rows[0].metrics;
    expect(fit.rows[0].parameters.trainedUpTo).toBe('2026-11-06');
    // Recent sales, views and carts rank the held-out week's sellers better than "sold last week" alone.
    expect(evaluation.model.auc).toBeGreaterThan(0.6);
    expect(evaluation.model.auc).toBeGreaterThan(evaluation['sold last week'].auc);
    expect(evaluation.model.logLoss).toBeLessThan(evaluation['sold last week'].logLoss);
  });

  it('prints the backtest and the stock evaluation with `cartflow models show`, and exports both marts', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-forecast-cli-'));
    const cartflow = (...args: string[]) =>
      spawnSync(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'cli/main.ts'), ...args], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          CARTFLOW_HOME: home,
          CARTFLOW_WAREHOUSE_URL: stack.databases.warehouseUrl,
          CARTFLOW_SHOP_URL: stack.databases.shopUrl,
          TEMPORAL_ADDRESS: testServices().temporalAddress,
          SMTP_URL: 'smtp://127.0.0.1:1',
        },
        encoding: 'utf8',
        timeout: 120_000,
      });
    try {
      const forecast = cartflow('models', 'show', 'forecast', '--date', DATE);
      expect(forecast.stderr).toBe('');
      expect(forecast.stdout).toMatch(
        /mean sMAPE over the series: model \d+\.\d+%, seasonal naive \d+\.\d+%/,
      );
      // What the series is served by (the model's combination or a baseline), its served sMAPE, then the model's.
      expect(forecast.stdout).toMatch(/^ {2}orders +[\w+]+ +\d+\.\d% \| +\d+\.\d%/m);
      expect(forecast.stdout).toMatch(/worst units series as served: \S+/);
      const stock = cartflow('models', 'show', 'stock', '--date', DATE);
      expect(stock.stdout).toMatch(/^ {2}model +AUC 0\.\d{4} {2}log loss \d\.\d{4}/m);
      expect(stock.stdout).toMatch(/^ {2}sold last week +AUC 0\.\d{4}/m);
      const csv = cartflow('export', 'forecast', '--date', DATE);
      expect(csv.stdout.split('\n')[0]).toBe(
        'as_of,series,product_source,product_id,date,days_ahead,point,lower_80,upper_80,lower_95,upper_95,method,version_id',
      );
      expect(cartflow('export', 'stock_outlook', '--date', DATE).status).toBe(0);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('reads no fact after its date: the same forecast for an earlier date with the later facts gone', async () => {
    await runDailyPipeline(stack.worker, {
      date: EARLIER,
      models: ['forecast'],
      modelTaskQueue: stack.worker.taskQueues.ml,
    });
    const before = await forecastRows(EARLIER);
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((r) => r.date > EARLIER)).toBe(true);
    const { rowCount } = await stack.deps.warehouse.query(
      `delete from core.fact_order_line where date_key > $1`,
      [keyOf(EARLIER)],
    );
    expect(rowCount).toBeGreaterThan(100);
    // The models step alone: a daily run would rebuild core from the shop.
    const steps = await stack.worker.client.workflow.execute(ModelsWorkflow, {
      workflowId: `models-forecast-test-${Date.now()}`,
      taskQueue: stack.worker.taskQueues.etl,
      args: [{ date: EARLIER, taskQueue: stack.worker.taskQueues.ml, models: ['forecast'] }],
    });
    expect(steps.map((s) => s.status)).toEqual(['succeeded']);
    expect(await forecastRows(EARLIER)).toEqual(before);
  }, 300_000); // a daily run and the models step, each fitting every series
});
