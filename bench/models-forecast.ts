/**
 * `npx tsx bench/models-forecast.ts`: the forecasts' backtest on public data and their fit time.
 *
 *   1. The salon's and the Online Retail sample's daily series (../shared/data/), built from the files
 *      with the definitions of docs/models-forecast.md (the same as the forecast activity's SQL over
 *      what `cartflow import transactions` / `cartflow import online-retail` load), from after the last
 *      14-day gap without orders, up to the file's last day: the rolling-origin backtest (8 weekly
 *      origins, 7 days ahead) of the additive model and both baselines side by side, and which method
 *      serves each series.
 *   2. The fit time of a two-year shop's 52 series (revenue, orders, 50 products; 730 days each, drawn
 *      from a seeded weekly/yearly/trend process), each with its backtest, on the TensorFlow.js backend
 *      (BENCH_ML_BACKEND: wasm by default, native or auto).
 *
 * It prints figures and asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { usableHistoryStart } from '../activities/models/forecast';
import { useTensorFlow, type BackendChoice } from '../ml/backend';
import { forecastSeries, learnClosedWeekdays, type AccuracyMetrics } from '../ml/forecast';
import { dayNumber, formatDay, holidayCalendar, isoWeekday } from '../ml/holidays';
import { SeededRandom } from '../ml/random';
import { compareWithProphet, type PreparedData } from './models-forecast-prophet';

const DATA = path.resolve(__dirname, '../../shared/data');
const say = (line = '') => process.stdout.write(line + '\n');

interface Series {
  name: string;
  values: Float64Array;
}

/** Daily series from (day, order, revenue, product, units, isPurchase) records; days with no sale are 0. */
function dailySeries(
  records: {
    day: number;
    order: string;
    revenue: number;
    product: string;
    units: number;
    purchase: boolean;
  }[],
  topProducts: number,
): { firstDay: number; series: Series[] } {
  const first = records.reduce((m, r) => Math.min(m, r.day), Infinity);
  const last = records.reduce((m, r) => Math.max(m, r.day), -Infinity);
  const n = last - first + 1;
  const revenue = new Float64Array(n);
  const orderSets = Array.from({ length: n }, () => new Set<string>());
  for (const r of records) {
    revenue[r.day - first] += r.revenue;
    if (r.purchase) orderSets[r.day - first].add(r.order);
  }
  const orders = Float64Array.from(orderSets, (s) => s.size);
  const start = usableHistoryStart(orders);
  const firstDay = first + start;
  const series: Series[] = [
    { name: 'revenue', values: revenue.slice(start) },
    { name: 'orders', values: orders.slice(start) },
  ];
  const recent = new Map<string, number>();
  for (const r of records)
    if (r.purchase && r.day > last - 90) recent.set(r.product, (recent.get(r.product) ?? 0) + r.units);
  const top = [...recent]
    .filter(([, u]) => u > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, topProducts)
    .map(([p]) => p);
  const units = new Map(top.map((p) => [p, new Float64Array(n - start)]));
  for (const r of records)
    if (r.purchase && r.day >= firstDay) {
      const u = units.get(r.product);
      if (u) u[r.day - firstDay] += r.units;
    }
  for (const [p, values] of units) series.push({ name: `units ${p}`, values });
  return { firstDay, series };
}

/** The salon's file: one row a visit, `Date,Customer,Total`; month-only dates fall on the 1st (the gap rule drops them). */
function salon() {
  const rows: { Date: string; Customer: string; Total: string }[] = parse(
    fs.readFileSync(path.join(DATA, 'salon-transactions.csv')),
    { columns: true },
  );
  const records = rows
    .filter((r) => r.Total !== '' && r.Customer !== '' && r.Date !== '')
    .map((r, i) => {
      const [y, m, d] = r.Date.slice(0, 10).split('-').map(Number);
      const total = Number(r.Total);
      return {
        day: dayNumber(y, m, d || 1),
        order: String(i),
        revenue: total,
        product: '(unspecified)',
        units: 1,
        purchase: total >= 0,
      };
    });
  return dailySeries(records, 50);
}

/** The Online Retail sample: C invoices are cancellations (left out); an invoice of negative lines only is a return. */
function onlineRetail() {
  const rows: Record<string, string>[] = parse(
    zlib.gunzipSync(fs.readFileSync(path.join(DATA, 'online-retail-sample.csv.gz'))),
    { columns: true },
  );
  const invoices = new Map<string, boolean>();
  for (const r of rows) if (Number(r.Quantity) > 0) invoices.set(r.InvoiceNo, true);
  const records = rows
    .filter((r) => !r.InvoiceNo.startsWith('C'))
    .map((r) => {
      const [m, d, y] = r.InvoiceDate.split(' ')[0].split('/').map(Number);
      const quantity = Number(r.Quantity);
      const returned = !invoices.get(r.InvoiceNo);
      return {
        day: dayNumber(2000 + y, m, d),
        order: r.InvoiceNo,
        // A returned invoice's negative lines subtract on their day; a purchase's negative line (a correction) counts as it is.
        revenue: quantity * Number(r.UnitPrice),
        product: r.StockCode,
        units: quantity,
        purchase: !returned,
      };
    })
    .filter((r) => Number.isFinite(r.revenue));
  return dailySeries(records, 50);
}

const cell = (m: AccuracyMetrics) =>
  `${m.smape.toFixed(1).padStart(6)}% ${m.mae.toFixed(2).padStart(9)} ${(100 * m.coverage80).toFixed(0).padStart(4)}% ${(100 * m.coverage95).toFixed(0).padStart(4)}%`;

function report(
  title: string,
  data: { firstDay: number; series: Series[] },
  country: 'GB' | null,
): PreparedData {
  const { firstDay, series } = data;
  const lastDay = firstDay + series[0].values.length - 1;
  say(
    `\n${title}: ${series[0].values.length} days ${formatDay(firstDay)} … ${formatDay(lastDay)}, ${series.length} series`,
  );
  const closedWeekdays = learnClosedWeekdays(series[1].values, firstDay, 4);
  const holidays = holidayCalendar(country, firstDay, lastDay + 30);
  const skipDays = Array.from(series[1].values.entries())
    .filter(([, orders]) => orders === 0)
    .map(([i]) => firstDay + i);
  say(
    `closed weekdays (ISO) learnt from the orders: ${closedWeekdays.join(', ') || 'none'}; holidays: ${country ?? 'none'}`,
  );
  say(
    `${'series'.padEnd(22)} ${'served by'.padEnd(15)} ${'model: sMAPE MAE cov80 cov95'.padEnd(33)} | ${'seasonal naive'.padEnd(31)} | weekday mean`,
  );
  const sums = { additive: 0, seasonal_naive: 0, weekday_mean: 0, served: 0 };
  let wins = 0;
  for (const s of series) {
    const served = forecastSeries(s.values, firstDay, {
      horizon: 30,
      holidays,
      closedWeekdays,
      skipDays,
      seed: 1,
    });
    const b = served.backtest;
    sums.additive += b.additive.smape;
    sums.seasonal_naive += b.seasonal_naive.smape;
    sums.weekday_mean += b.weekday_mean.smape;
    sums.served += b[served.method].smape;
    if (b.additive.smape < b.seasonal_naive.smape) wins++;
    if (series.length <= 4 || s.name === 'revenue' || s.name === 'orders')
      say(
        `${s.name.slice(0, 22).padEnd(22)} ${served.method.padEnd(15)} ${cell(b.additive)} | ${cell(b.seasonal_naive)} | ${cell(b.weekday_mean)}`,
      );
  }
  const k = series.length;
  say(
    `mean sMAPE over the ${k} series: model ${(sums.additive / k).toFixed(2)}%, seasonal naive ${(sums.seasonal_naive / k).toFixed(2)}%,` +
      ` weekday mean ${(sums.weekday_mean / k).toFixed(2)}%, as served ${(sums.served / k).toFixed(2)}%; the model beats seasonal naive on ${wins} of ${k}`,
  );
  return { title, firstDay, series, holidays, closedWeekdays, skipDays };
}

/** A two-year shop's series: revenue, orders and 50 products, trend, weekly and yearly cycles, Poisson-ish noise. */
function simulatedShop(): { firstDay: number; series: Series[] } {
  const random = new SeededRandom(14);
  const firstDay = dayNumber(2024, 11, 21);
  const n = 730;
  const shape = (i: number) =>
    (1 + 0.0005 * i) *
    (1 + 0.3 * Math.sin((2 * Math.PI * (i + 40)) / 365.25)) *
    [1, 1.05, 1.1, 1.05, 1.2, 1.3, 0.8][isoWeekday(firstDay + i) - 1];
  const poisson = (mu: number) => {
    let count = 0;
    for (let t = -Math.log(1 - random.next()); t < mu; t -= Math.log(1 - random.next())) count++;
    return count;
  };
  const orders = Float64Array.from({ length: n }, (_, i) => poisson(150 * shape(i)));
  const revenue = Float64Array.from(orders, (o) => o * (60 + 10 * random.normal()));
  const series: Series[] = [
    { name: 'revenue', values: revenue },
    { name: 'orders', values: orders },
  ];
  for (let p = 0; p < 50; p++) {
    const rate = 20 / (p + 1);
    series.push({
      name: `units ${p}`,
      values: Float64Array.from({ length: n }, (_, i) => poisson(rate * shape(i))),
    });
  }
  return { firstDay, series };
}

async function main() {
  const backend = await useTensorFlow((process.env.BENCH_ML_BACKEND ?? 'wasm') as BackendChoice);
  say(
    `forecast bench on ${backend.name}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${os.cpus().length} cores`,
  );
  const prepared = [
    report('Salon (../shared/data/salon-transactions.csv)', salon(), null),
    report('Online Retail sample (../shared/data/online-retail-sample.csv.gz)', onlineRetail(), 'GB'),
  ];
  if (process.argv.includes('--compare-prophet')) await compareWithProphet(prepared);

  const shop = simulatedShop();
  const holidays = holidayCalendar('GB', shop.firstDay, shop.firstDay + 760);
  const started = performance.now();
  const times = shop.series.map((s) => {
    const t = performance.now();
    forecastSeries(s.values, shop.firstDay, { horizon: 30, holidays, seed: 1 });
    return performance.now() - t;
  });
  const total = performance.now() - started;
  times.sort((a, b) => a - b);
  say(
    `\nFit time, simulated two-year shop (52 series × 730 days, each with its 8-origin backtest) on ${backend.name}: ` +
      `${(total / 1000).toFixed(2)} s in all, ${(total / times.length).toFixed(0)} ms per series (median ${times[26].toFixed(0)} ms, max ${times[51].toFixed(0)} ms);` +
      ` load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
