/**
 * `npx tsx bench/models-forecast.ts`: the forecasts' backtest on public data and their fit time.
 *
 *   1. The salon's and the Online Retail sample's daily series (../shared/data/), built from the files
 *      with the definitions of docs/models-forecast.md (the same as the forecast activity's SQL over
 *      what `cartflow import transactions` / `cartflow import online-retail` load), from after the last
 *      14-day gap without orders, up to the file's last day: the rolling-origin backtest (8 weekly
 *      origins, 7 days ahead) of the additive model and both baselines side by side, and which method
 *      serves each series.
 *   2. With --compare-prophet: Prophet on the same held-out days (bench/models-forecast-prophet.ts).
 *      With --cut-days=N the files' series end N days early: --cut-days=56 scores the 8 weeks before
 *      the held-out ones.
 *   3. The fit time of a simulated shop of 100,000 customers and 1,000,000 order lines over two years
 *      (BENCH_FORECAST_CUSTOMERS, BENCH_FORECAST_LINES), generated line by line and aggregated to its
 *      52 daily series (revenue, orders, the 50 best sellers), each fitted as the forecast step does
 *      (its backtest included), on the TensorFlow.js backend (BENCH_ML_BACKEND: wasm by default,
 *      native or auto): the time of each series and in all.
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
import {
  compareWithProphet,
  fileCases,
  type ComparisonCase,
  type PreparedData,
} from './models-forecast-prophet';

const DATA = path.resolve(__dirname, '../../shared/data');
const say = (line = '') => process.stdout.write(line + '\n');
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

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

/**
 * A data set's series ending `cut` days before its last day, with what the forecast step derives from
 * them: the closed weekdays (from the orders, series 1), the holidays and the days without orders.
 */
function prepare(
  title: string,
  data: { firstDay: number; series: Series[] },
  country: 'GB' | null,
  cut: number,
): PreparedData {
  const { firstDay } = data;
  const series = data.series.map((s) => ({ name: s.name, values: s.values.slice(0, s.values.length - cut) }));
  const lastDay = firstDay + series[0].values.length - 1;
  const closedWeekdays = learnClosedWeekdays(series[1].values, firstDay, 4);
  const holidays = holidayCalendar(country, firstDay, lastDay + 30);
  const skipDays = Array.from(series[1].values.entries())
    .filter(([, orders]) => orders === 0)
    .map(([i]) => firstDay + i);
  return { title, firstDay, series, holidays, closedWeekdays, skipDays };
}

/** --cut-days=N: the files' series end N days early (a window of origins disjoint from the held-out days). */
const CUT_DAYS = Number(
  /^--cut-days=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--cut-days=')) ?? '')?.[1] ?? 0,
);

function report(prepared: PreparedData, country: 'GB' | null): PreparedData {
  const { title, firstDay, series, holidays, closedWeekdays, skipDays } = prepared;
  const lastDay = firstDay + series[0].values.length - 1;
  say(
    `\n${title}: ${series[0].values.length} days ${formatDay(firstDay)} … ${formatDay(lastDay)}, ${series.length} series`,
  );
  say(
    `closed weekdays (ISO) learnt from the orders: ${closedWeekdays.join(', ') || 'none'}; holidays: ${country ?? 'none'}`,
  );
  say(
    `${'series'.padEnd(22)} ${'served by'.padEnd(15)} ${'as served: sMAPE MAE cov80 cov95'.padEnd(33)} | ${'model alone'.padEnd(31)} | ${'seasonal naive'.padEnd(31)} | weekday mean`,
  );
  const sums = { additive: 0, seasonal_naive: 0, weekday_mean: 0, served: 0 };
  let wins = 0;
  let servedWins = 0;
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
    sums.served += b.served.smape;
    if (b.additive.smape < b.seasonal_naive.smape) wins++;
    if (b.served.smape < b.seasonal_naive.smape) servedWins++;
    if (series.length <= 4 || s.name === 'revenue' || s.name === 'orders')
      say(
        `${s.name.slice(0, 22).padEnd(22)} ${served.method.padEnd(15)} ${cell(b.served)} | ${cell(b.additive)} | ${cell(b.seasonal_naive)} | ${cell(b.weekday_mean)}`,
      );
  }
  const k = series.length;
  say(
    `mean sMAPE over the ${k} series: model ${(sums.additive / k).toFixed(2)}%, seasonal naive ${(sums.seasonal_naive / k).toFixed(2)}%,` +
      ` weekday mean ${(sums.weekday_mean / k).toFixed(2)}%, as served ${(sums.served / k).toFixed(2)}%; the model alone beats seasonal naive on ${wins} of ${k}, as served on ${servedWins}`,
  );
  return prepared;
}

/**
 * Northwind's orders (../shared/data/northwind.sql, 830 orders 1996-07-04 … 1998-05-06, weekdays
 * only): daily orders and net revenue Σ unit_price × quantity × (1 − discount) of their lines, read
 * from the INSERT statements. A real shop's series the serving rule was not chosen on.
 */
function northwind(): { firstDay: number; series: Series[] } {
  const sql = fs.readFileSync(path.join(DATA, 'northwind.sql'), 'utf8');
  const dayOf = new Map<string, number>();
  for (const m of sql.matchAll(/INSERT INTO orders VALUES \((\d+), '[^']*', \d+, '(\d{4})-(\d{2})-(\d{2})'/g))
    dayOf.set(m[1], dayNumber(Number(m[2]), Number(m[3]), Number(m[4])));
  const records: Parameters<typeof dailySeries>[0] = [];
  for (const m of sql.matchAll(
    /INSERT INTO order_details VALUES \((\d+), (\d+), ([\d.]+), (\d+), ([\d.]+)\)/g,
  )) {
    const day = dayOf.get(m[1]);
    if (day === undefined) continue;
    records.push({
      day,
      order: m[1],
      revenue: Number(m[3]) * Number(m[4]) * (1 - Number(m[5])),
      product: m[2],
      units: Number(m[4]),
      purchase: true,
    });
  }
  return dailySeries(records, 0);
}

/**
 * A simulated shop of `customers` customers and `lines` order lines over the two years (730 days)
 * up to 2026-11-20, generated line by line and aggregated to its daily series as the forecast step
 * reads them (revenue, orders, the 50 best sellers' units of the last 90 days). Orders a day are
 * Poisson around a rising trend with weekly and yearly cycles, +80% on Black Friday and closed on
 * Christmas Day; 1–7 lines an order (4 on average), products by a Zipf law over 2,000, 1–4 units a
 * line, each product at its own price.
 */
function simulatedShop(
  customers: number,
  lines: number,
): { firstDay: number; series: Series[]; orders: number } {
  const random = new SeededRandom(14);
  const lastDay = dayNumber(2026, 11, 20);
  const n = 730;
  const firstDay = lastDay - n + 1;
  const products = 2000;
  const shape = (i: number) => {
    const day = firstDay + i;
    const date = formatDay(day);
    if (date.endsWith('-12-25')) return 0;
    const blackFriday =
      date.slice(5, 7) === '11' &&
      isoWeekday(day) === 5 &&
      Number(date.slice(8)) >= 23 &&
      Number(date.slice(8)) <= 29;
    return (
      (1 + 0.0005 * i) *
      (1 + 0.3 * Math.sin((2 * Math.PI * (i + 40)) / 365.25)) *
      [1, 1.05, 1.1, 1.05, 1.2, 1.3, 0.8][isoWeekday(day) - 1] *
      (blackFriday ? 1.8 : 1)
    );
  };
  const poisson = (mu: number) => {
    if (mu > 50) return Math.max(0, Math.round(mu + Math.sqrt(mu) * random.normal()));
    let count = 0;
    for (let t = -Math.log(1 - random.next()); t < mu; t -= Math.log(1 - random.next())) count++;
    return count;
  };
  // Zipf(1) over the products by inverse CDF on the cumulative weights.
  const cumulative = new Float64Array(products);
  for (let p = 0, sum = 0; p < products; p++) cumulative[p] = sum += 1 / (p + 1);
  const pick = () => {
    const u = random.next() * cumulative[products - 1];
    let lo = 0;
    let hi = products - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const price = Float64Array.from({ length: products }, (_, p) => 5 + ((p * 37) % 80) * 1.25);
  const shapes = Float64Array.from({ length: n }, (_, i) => shape(i));
  const meanOrders = lines / 4 / shapes.reduce((a, b) => a + b, 0);
  const revenue = new Float64Array(n);
  const orders = new Float64Array(n);
  const units = Array.from({ length: products }, () => new Float64Array(n));
  const buyers = new Set<number>();
  let written = 0;
  let orderCount = 0;
  for (let i = 0; i < n && written < lines; i++) {
    const count = poisson(meanOrders * shapes[i]);
    for (let o = 0; o < count && written < lines; o++) {
      buyers.add(random.below(customers));
      orderCount++;
      orders[i]++;
      const orderLines = Math.min(1 + random.below(7), lines - written);
      for (let l = 0; l < orderLines; l++) {
        const p = pick();
        const quantity = 1 + random.below(4);
        units[p][i] += quantity;
        revenue[i] += quantity * price[p];
      }
      written += orderLines;
    }
  }
  const recent = units
    .map((u, p) => [p, u.subarray(n - 90).reduce((a, b) => a + b, 0)] as const)
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, 50);
  const series: Series[] = [
    { name: 'revenue', values: revenue },
    { name: 'orders', values: orders },
    ...recent.map(([p]) => ({ name: `units ${p + 1}`, values: units[p] })),
  ];
  say(
    `\nSimulated shop: ${customers.toLocaleString('en-US')} customers (${buyers.size.toLocaleString('en-US')} of them bought), ` +
      `${orderCount.toLocaleString('en-US')} orders, ${written.toLocaleString('en-US')} order lines over ${n} days ${formatDay(firstDay)} … ${formatDay(lastDay)}, ${products.toLocaleString('en-US')} products`,
  );
  return { firstDay, series, orders: orderCount };
}

/**
 * Synthetic daily series of known structure (seeded), each with what makes one forecaster fail where
 * another does not: a weekly cycle that scales with a growing level (counts), a level shift in the
 * last 20% of the history (where Prophet places no changepoint), two and a half years with a yearly
 * cycle and a Christmas closure, sparse counts on a shop closed on Sundays, a trend that turns, and
 * weekdays whose levels wander on their own (the baselines' ground).
 */
function syntheticSeries(
  seed = 2026,
): { name: string; firstDay: number; values: Float64Array; country: 'GB' | null }[] {
  const random = new SeededRandom(seed);
  const poisson = (mu: number) => {
    if (mu > 50) return Math.max(0, Math.round(mu + Math.sqrt(mu) * random.normal()));
    let count = 0;
    for (let t = -Math.log(1 - random.next()); t < mu; t -= Math.log(1 - random.next())) count++;
    return count;
  };
  const firstDay = dayNumber(2023, 6, 5);
  const week = (i: number) => [0.9, 1, 1, 1.05, 1.2, 1.4, 0.6][isoWeekday(firstDay + i) - 1];
  const make = (n: number, value: (i: number) => number) =>
    Float64Array.from({ length: n }, (_, i) => value(i));
  const levels = [100, 300, 50, 400, 200, 150, 250];
  return [
    {
      name: 'growing counts',
      firstDay,
      country: null,
      values: make(400, (i) => poisson(20 * Math.exp(0.003 * i) * week(i))),
    },
    {
      name: 'late level shift',
      firstDay,
      country: null,
      values: make(300, (i) => Math.max(0, (i < 265 ? 500 : 650) * week(i) + 40 * random.normal())),
    },
    {
      name: 'yearly cycle',
      firstDay,
      country: 'GB',
      values: make(900, (i) =>
        formatDay(firstDay + i).endsWith('-12-25')
          ? 0
          : 1000 *
            (1 + 0.35 * Math.sin((2 * Math.PI * (i - 80)) / 365.25)) *
            week(i) *
            Math.exp(0.15 * random.normal()),
      ),
    },
    {
      name: 'sparse, Sundays closed',
      firstDay,
      country: null,
      values: make(300, (i) => (isoWeekday(firstDay + i) === 7 ? 0 : poisson(3 * week(i)))),
    },
    {
      name: 'trend turns',
      firstDay,
      country: null,
      values: make(420, (i) =>
        Math.max(0, (i < 300 ? 200 + 0.8 * i : 440 - 0.6 * (i - 300)) * week(i) + 20 * random.normal()),
      ),
    },
    {
      name: 'wandering weekdays',
      firstDay,
      country: null,
      values: make(300, (i) => {
        levels[i % 7] = Math.max(10, levels[i % 7] + 15 * random.normal());
        return levels[i % 7] * (1 + 0.1 * random.normal());
      }),
    },
  ];
}

/**
 * The comparison's wider set (--generality): the salon's revenue and orders cut at five dates 8 weeks
 * apart and the Online Retail sample's and Northwind's at two (7 days ahead; 30 days ahead at the
 * first two cuts),
 * the Online Retail sample's 10 best sellers' units (7 days ahead, two cuts), and the synthetic series
 * (7 and 30 days ahead). Each cut is a data set of its own: its closed days, holidays and the rows'
 * origins all end at the cut.
 */
function generalityCases(
  salonData: { firstDay: number; series: Series[] },
  retailData: { firstDay: number; series: Series[] },
): ComparisonCase[] {
  const cases: ComparisonCase[] = [];
  // --synthetic-seed=N: the synthetic series drawn again from another seed (rows not seen when the
  // serving rule was chosen); --synthetic-only: those rows alone.
  const seed = Number(process.argv.find((a) => a.startsWith('--synthetic-seed='))?.split('=')[1] ?? 2026);
  if (!process.argv.includes('--synthetic-only'))
    for (const cut of [0, 56, 112, 168, 224])
      cases.push(
        ...fileCases([prepare('Salon', salonData, null, cut)], cut < 112 ? [7, 30] : [7], ` −${cut}`),
      );
  for (const cut of process.argv.includes('--synthetic-only') ? [] : [0, 56]) {
    const retail = prepare('Online Retail', retailData, 'GB', cut);
    cases.push(...fileCases([retail], [7, 30], ` −${cut}`));
    for (const s of retail.series.slice(2, 12))
      cases.push({
        key: `OR ${s.name} −${cut} 7d`,
        firstDay: retail.firstDay,
        values: s.values,
        horizon: 7,
        holidays: retail.holidays,
        closedWeekdays: retail.closedWeekdays,
        skipDays: retail.skipDays,
      });
  }
  if (!process.argv.includes('--synthetic-only'))
    for (const cut of [0, 56])
      cases.push(...fileCases([prepare('Northwind', northwind(), null, cut)], [7, 30], ` −${cut}`));
  for (const s of syntheticSeries(seed)) {
    const lastDay = s.firstDay + s.values.length - 1;
    const closedWeekdays = learnClosedWeekdays(s.values, s.firstDay, 4);
    for (const horizon of [7, 30])
      cases.push({
        key: `synthetic ${s.name} ${horizon}d`,
        firstDay: s.firstDay,
        values: s.values,
        horizon,
        holidays: holidayCalendar(s.country, s.firstDay, lastDay + 30),
        closedWeekdays,
        skipDays: [],
      });
  }
  return cases;
}

async function main() {
  const backend = await useTensorFlow((process.env.BENCH_ML_BACKEND ?? 'wasm') as BackendChoice);
  say(`forecast bench on ${backend.name}; load average ${load()}; ${os.cpus().length} cores`);
  // --fit-time-only: the simulated shop's fit time alone (the part to measure under the heavy lock).
  const fitTimeOnly = process.argv.includes('--fit-time-only');
  const salonData = salon();
  const retailData = onlineRetail();
  const SALON = 'Salon (../shared/data/salon-transactions.csv)';
  const RETAIL = 'Online Retail sample (../shared/data/online-retail-sample.csv.gz)';
  if (process.argv.includes('--generality')) {
    const pools = process.argv
      .find((a) => a.startsWith('--pools='))
      ?.slice('--pools='.length)
      .split(',');
    const flag = (name: string) =>
      process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    const margin = flag('margin');
    await compareWithProphet(generalityCases(salonData, retailData), pools, {
      ...(flag('noise') ? { noise: flag('noise') as 'robust' | 'residual' } : {}),
      ...(margin !== undefined ? { switchMargin: Number(margin) } : {}),
    });
    return;
  }
  const prepared = fitTimeOnly
    ? []
    : [
        report(prepare(SALON, salonData, null, CUT_DAYS), null),
        report(prepare(RETAIL, retailData, 'GB', CUT_DAYS), 'GB'),
      ];
  if (process.argv.includes('--compare-prophet') && !fitTimeOnly)
    await compareWithProphet(fileCases(prepared));
  if (process.argv.includes('--no-fit-time')) return;

  const shop = simulatedShop(
    Number(process.env.BENCH_FORECAST_CUSTOMERS ?? 100_000),
    Number(process.env.BENCH_FORECAST_LINES ?? 1_000_000),
  );
  const holidays = holidayCalendar('GB', shop.firstDay, shop.firstDay + 760);
  const closedWeekdays = learnClosedWeekdays(shop.series[1].values, shop.firstDay, 4);
  const skipDays = Array.from(shop.series[1].values.entries())
    .filter(([, orders]) => orders === 0)
    .map(([i]) => shop.firstDay + i);
  const started = performance.now();
  const times = shop.series.map((s) => {
    const t = performance.now();
    forecastSeries(s.values, shop.firstDay, { horizon: 30, holidays, closedWeekdays, skipDays, seed: 1 });
    return performance.now() - t;
  });
  const total = performance.now() - started;
  const sorted = [...times].sort((a, b) => a - b);
  const k = times.length;
  say(
    `Fit of all ${k} series (730 days each; each fitted for 30 days ahead after its backtest of 8 scored + 8 calibration origins) on ${backend.name}: ` +
      `${(total / 1000).toFixed(2)} s in all (target < 60 s), ${(total / k).toFixed(0)} ms per series (median ${sorted[k >> 1].toFixed(0)} ms, max ${sorted[k - 1].toFixed(0)} ms); load average ${load()}`,
  );
  say(`time per series (ms): ${shop.series.map((s, i) => `${s.name} ${times[i].toFixed(0)}`).join(', ')}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
