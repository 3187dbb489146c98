/**
 * `npx tsx bench/models-forecast.ts --compare-prophet`: Prophet on the same held-out days as
 * cartflow's forecasts. For the shop-wide series (daily revenue and orders) of each data set it runs
 * cartflow's rolling-origin backtest (8 weekly origins; 7 and 30 days ahead), hands the same series,
 * origins, horizons, holidays and closed days to bench/models-forecast-prophet.py, and scores every
 * method's forecasts with the same code (ml/forecast.ts' MetricsAccumulator): MAE, sMAPE and the
 * 80%/95% intervals' coverage side by side, with each method's fit time.
 *
 * Prophet 1.5.0 (its wheel bundles the compiled Stan model) and its dependencies are installed with
 * pip into .cartflow/tools/prophet-1.5.0 on the first run.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  backtest,
  CANDIDATE_POOLS,
  MetricsAccumulator,
  type AccuracyMetrics,
  type Forecast,
} from '../ml/forecast';
import { formatDay, type Holiday } from '../ml/holidays';
import { pipInstall, PipInstallError } from '../lib/pip-install';

export const PROPHET_VERSION = '1.5.0';
const TOOLS = path.resolve(__dirname, '../.cartflow/tools');
const TARGET = path.join(TOOLS, `prophet-${PROPHET_VERSION}`);
const SCRIPT = path.join(__dirname, 'models-forecast-prophet.py');
const say = (line = '') => process.stdout.write(line + '\n');

export interface PreparedData {
  title: string;
  firstDay: number;
  series: { name: string; values: Float64Array }[];
  holidays: Holiday[];
  closedWeekdays: number[];
  skipDays: number[];
}

/** Prophet and its dependencies under .cartflow/tools (pip install --target), installed once. */
function ensureProphet(): string {
  try {
    return pipInstall({
      requirement: `prophet==${PROPHET_VERSION}`,
      target: TARGET,
      installed: (target) => fs.existsSync(path.join(target, 'prophet', '__init__.py')),
      onlyBinary: true,
      log: say,
    });
  } catch (error) {
    if (!(error instanceof PipInstallError)) throw error;
    throw new Error(
      `the comparison needs prophet==${PROPHET_VERSION} (python3 with pip and the Python package index), and pip failed: ${error.problem}`,
    );
  }
}

interface ProphetResult extends Forecast {
  key: string;
  variant: 'default' | 'closed';
  origin: number;
  seconds: number;
}

/** One series as the Python driver takes it (bench/models-forecast-prophet.py). */
export interface ProphetSeries {
  key: string;
  firstDay: string;
  values: number[];
  horizon: number;
  origins: number[];
  holidays: { ds: string; holiday: string }[];
  closedWeekdays: number[];
  skipDays: string[];
  fits?: { variant: ProphetResult['variant']; origin: number }[];
}

/** Runs the Python driver on one request and collects its JSON lines. */
function runProphet(
  target: string,
  request: { variants: string[]; series: ProphetSeries[] },
): Promise<ProphetResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [SCRIPT], {
      env: { ...process.env, PYTHONPATH: target },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let done = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const lines = stdout.split('\n').length - 1;
      if (lines >= done + 16) {
        done = lines;
        process.stderr.write(`  … ${done} Prophet fits\n`);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${SCRIPT} exited with ${code}: ${stderr.slice(-2000)}`));
      const results = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => {
          const r = JSON.parse(line) as Record<string, unknown>;
          const array = (name: string) => Float64Array.from(r[name] as number[]);
          return {
            key: r.key as string,
            variant: r.variant as ProphetResult['variant'],
            origin: r.origin as number,
            seconds: r.seconds as number,
            point: array('point'),
            lower80: array('lower80'),
            upper80: array('upper80'),
            lower95: array('lower95'),
            upper95: array('upper95'),
          };
        });
      resolve(results);
    });
    child.stdin.end(JSON.stringify(request));
  });
}

const CACHE = path.join(TOOLS, '..', 'cache', `prophet-${PROPHET_VERSION}`);

/** What a Prophet fit depends on: the history before the origin, the horizon, the calendar and the closed days. */
function fitKey(s: ProphetSeries, variant: string, origin: number): string {
  const inputs = {
    variant,
    firstDay: s.firstDay,
    history: s.values.slice(0, origin),
    horizon: s.horizon,
    holidays: s.holidays,
    closedWeekdays: s.closedWeekdays,
    skipDays: s.skipDays,
  };
  return crypto.createHash('sha1').update(JSON.stringify(inputs)).digest('hex');
}

/**
 * Prophet's forecasts of every series at every origin and variant, each fit read from
 * .cartflow/cache/prophet-<version>/ when the same history, horizon and calendar were fitted before
 * (Prophet's fit is seeded: the same inputs give the same forecast), else fitted and kept there.
 * `seconds` says how long the fits made in this call took, and `fitted` how many there were.
 */
export async function prophetForecasts(
  series: ProphetSeries[],
  variants: ProphetResult['variant'][],
): Promise<{ results: ProphetResult[]; fitted: number; seconds: number }> {
  const target = ensureProphet();
  fs.mkdirSync(CACHE, { recursive: true });
  const results: ProphetResult[] = [];
  const missing: ProphetSeries[] = [];
  for (const s of series) {
    const fits: NonNullable<ProphetSeries['fits']> = [];
    for (const variant of variants)
      for (const origin of s.origins) {
        const file = path.join(CACHE, `${fitKey(s, variant, origin)}.json`);
        if (!fs.existsSync(file)) {
          fits.push({ variant, origin });
          continue;
        }
        const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, number[]> & { seconds: number };
        results.push({
          key: s.key,
          variant,
          origin,
          seconds: r.seconds,
          point: Float64Array.from(r.point),
          lower80: Float64Array.from(r.lower80),
          upper80: Float64Array.from(r.upper80),
          lower95: Float64Array.from(r.lower95),
          upper95: Float64Array.from(r.upper95),
        });
      }
    if (fits.length) missing.push({ ...s, fits });
  }
  const started = performance.now();
  const fresh = missing.length ? await runProphet(target, { variants, series: missing }) : [];
  for (const r of fresh) {
    const s = missing.find((m) => m.key === r.key)!;
    const { point, lower80, upper80, lower95, upper95, seconds } = r;
    const stored = {
      seconds,
      ...Object.fromEntries(
        Object.entries({ point, lower80, upper80, lower95, upper95 }).map(([k, v]) => [k, Array.from(v)]),
      ),
    };
    fs.writeFileSync(path.join(CACHE, `${fitKey(s, r.variant, r.origin)}.json`), JSON.stringify(stored));
    results.push(r);
  }
  return { results, fitted: fresh.length, seconds: (performance.now() - started) / 1000 };
}

const METHODS = ['cartflow', 'prophet', 'prophet_closed', 'seasonal_naive', 'weekday_mean'] as const;
type Method = (typeof METHODS)[number];
const LABELS: Record<Method, string> = {
  cartflow: 'cartflow model',
  prophet: 'Prophet (defaults)',
  prophet_closed: 'Prophet (closed days)',
  seasonal_naive: 'seasonal naive',
  weekday_mean: 'weekday mean',
};

const cell = (m: AccuracyMetrics) =>
  `${m.smape.toFixed(1).padStart(5)}% ${m.mae.toFixed(m.mae >= 1000 ? 0 : 2).padStart(8)} ${(100 * m.coverage80).toFixed(0).padStart(3)}%/${(100 * m.coverage95).toFixed(0).padStart(3)}%`;

/** One row of the comparison: a daily series, its calendar and closed days, and the horizon scored. */
export interface ComparisonCase {
  key: string;
  firstDay: number;
  values: Float64Array;
  horizon: number;
  holidays: Holiday[];
  closedWeekdays: number[];
  skipDays: number[];
}

/** The shop-wide series (revenue and orders) of each data set at each horizon. */
export function fileCases(prepared: PreparedData[], horizons = [7, 30], suffix = ''): ComparisonCase[] {
  return prepared.flatMap((data) =>
    data.series
      .filter((x) => x.name === 'revenue' || x.name === 'orders')
      .flatMap((s) =>
        horizons.map((horizon) => ({
          key: `${data.title.split(' (')[0].replace(' sample', '')} ${s.name}${suffix} ${horizon}d`,
          firstDay: data.firstDay,
          values: s.values,
          horizon,
          holidays: data.holidays,
          closedWeekdays: data.closedWeekdays,
          skipDays: data.skipDays,
        })),
      ),
  );
}

/**
 * The side-by-side table of cartflow, Prophet and the baselines on the same origins and horizons:
 * for each case cartflow's backtest (8 weekly origins, each forecast as the series would be served
 * from it), Prophet's two variants on the same origins, and all five scored by the same code; then
 * the wins and losses against each Prophet and the better of the two.
 */
export async function compareWithProphet(
  cases: ComparisonCase[],
  pools: string[] = ['serve'],
  fitOptions: { noise?: 'robust' | 'residual'; switchMargin?: number } = {},
): Promise<void> {
  for (const name of pools)
    if (!CANDIDATE_POOLS[name])
      throw new Error(`--pools: no pool ${name} (there are ${Object.keys(CANDIDATE_POOLS).join(', ')})`);
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  say(`\nProphet ${PROPHET_VERSION} on the same held-out days (load average ${load()})`);
  const runPool = (pool: string) =>
    cases.map((c) => {
      const started = performance.now();
      const result = backtest(c.values, c.firstDay, {
        horizon: c.horizon,
        holidays: c.holidays,
        closedWeekdays: c.closedWeekdays,
        skipDays: c.skipDays,
        seed: 1,
        keepForecasts: true,
        candidates: CANDIDATE_POOLS[pool],
        ...fitOptions,
      });
      return { ...c, tested: result, cartflowMs: performance.now() - started };
    });
  const byPool = pools.map((pool) => ({ pool, tested: runPool(pool) }));
  const tested = byPool[0].tested;
  const { results, fitted, seconds } = await prophetForecasts(
    tested.map((c) => ({
      key: c.key,
      firstDay: formatDay(c.firstDay),
      values: Array.from(c.values),
      horizon: c.horizon,
      origins: c.tested.forecasts!.map((f) => f.origin),
      holidays: c.holidays.map((h) => ({ ds: formatDay(h.day), holiday: h.name })),
      closedWeekdays: c.closedWeekdays,
      skipDays: c.skipDays.map(formatDay),
    })),
    ['default', 'closed'],
  );

  say(
    `8 weekly origins per series, ending each row's horizon before its end; each cell: sMAPE, MAE, 80%/95% coverage`,
  );
  say(`${'series'.padEnd(30)}${METHODS.map((m) => LABELS[m].padEnd(30)).join('')}`);
  const tally = { better: 0, defaults: 0, closed: 0, mae: 0, of: 0, behindByMoreThan1: 0 };
  const sums = Object.fromEntries(METHODS.map((k) => [k, 0])) as Record<Method, number>;
  let sumBestProphet = 0;
  for (const c of tested) {
    const metrics = Object.fromEntries(METHODS.map((m) => [m, new MetricsAccumulator()])) as Record<
      Method,
      MetricsAccumulator
    >;
    for (const f of c.tested.forecasts!) {
      const prophet = results.find(
        (r) => r.key === c.key && r.variant === 'default' && r.origin === f.origin,
      );
      const closed = results.find((r) => r.key === c.key && r.variant === 'closed' && r.origin === f.origin);
      if (!prophet || !closed)
        throw new Error(`Prophet returned no forecast for ${c.key} at origin ${f.origin}`);
      for (let h = 0; h < c.horizon; h++) {
        const actual = c.values[f.origin + h];
        metrics.cartflow.add(actual, f.served, h);
        metrics.prophet.add(actual, prophet, h);
        metrics.prophet_closed.add(actual, closed, h);
        metrics.seasonal_naive.add(actual, f.seasonal_naive, h);
        metrics.weekday_mean.add(actual, f.weekday_mean, h);
      }
    }
    const m = Object.fromEntries(METHODS.map((k) => [k, metrics[k].result()])) as Record<
      Method,
      AccuracyMetrics
    >;
    const bestProphet = Math.min(m.prophet.smape, m.prophet_closed.smape);
    for (const k of METHODS) sums[k] += m[k].smape;
    sumBestProphet += bestProphet;
    tally.of++;
    if (m.cartflow.smape <= bestProphet) tally.better++;
    if (m.cartflow.smape <= m.prophet.smape) tally.defaults++;
    if (m.cartflow.smape <= m.prophet_closed.smape) tally.closed++;
    if (m.cartflow.smape > bestProphet + 1) tally.behindByMoreThan1++;
    if (m.cartflow.mae <= Math.min(m.prophet.mae, m.prophet_closed.mae)) tally.mae++;
    const raw = c.tested.additiveUncalibrated;
    const verdict = m.cartflow.smape <= bestProphet ? 'win ' : 'loss';
    say(
      `${c.key.slice(0, 29).padEnd(30)}${METHODS.map((k) => cell(m[k]).padEnd(30)).join('')}` +
        `${verdict} ${(m.cartflow.smape - bestProphet).toFixed(1).padStart(5)}; uncalibrated ${(100 * raw.coverage80).toFixed(0)}%/${(100 * raw.coverage95).toFixed(0)}%`,
    );
  }
  const k = tally.of;
  say(
    `mean sMAPE over the ${k} rows: ${METHODS.map((m) => `${LABELS[m]} ${(sums[m] / k).toFixed(2)}%`).join(', ')}, the better Prophet ${(sumBestProphet / k).toFixed(2)}%`,
  );
  const cartflowMs = tested.reduce((sum, c) => sum + c.cartflowMs, 0);
  say(
    `cartflow's sMAPE ≤ the better Prophet's on ${tally.better} of ${k} (≤ Prophet's defaults on ${tally.defaults}, ≤ Prophet given the closed days on ${tally.closed}; more than 1 point behind the better on ${tally.behindByMoreThan1}; MAE ≤ the better on ${tally.mae}); ` +
      `fit time: cartflow ${(cartflowMs / 1000).toFixed(1)} s for the ${k} backtests (their calibration origins included), ` +
      `Prophet ${seconds.toFixed(1)} s for the ${fitted} fits not cached${fitted ? ` (${((1000 * seconds) / fitted).toFixed(0)} ms a fit)` : ''}; load average ${load()}`,
  );
  if (pools.length > 1) comparePools(byPool, results);
}

/** Each pool's served sMAPE per row beside the better Prophet's, and each pool's wins. */
function comparePools(
  byPool: { pool: string; tested: (ComparisonCase & { tested: ReturnType<typeof backtest> })[] }[],
  results: ProphetResult[],
): void {
  const smape = (values: Float64Array, horizon: number, forecasts: { origin: number; f: Forecast }[]) => {
    const m = new MetricsAccumulator();
    for (const { origin, f } of forecasts) for (let h = 0; h < horizon; h++) m.add(values[origin + h], f, h);
    return m.result().smape;
  };
  say(
    `\nsMAPE as served by each pool of candidates (CANDIDATE_POOLS in ml/forecast.ts) against the better Prophet`,
  );
  say(`${'series'.padEnd(30)}${'Prophet'.padStart(8)}${byPool.map((p) => p.pool.padStart(10)).join('')}`);
  const wins = byPool.map(() => 0);
  const sums = byPool.map(() => 0);
  let prophetSum = 0;
  byPool[0].tested.forEach((c, i) => {
    const origins = c.tested.forecasts!.map((f) => f.origin);
    const prophet = Math.min(
      ...(['default', 'closed'] as const).map((variant) =>
        smape(
          c.values,
          c.horizon,
          origins.map((origin) => ({
            origin,
            f: results.find((r) => r.key === c.key && r.variant === variant && r.origin === origin)!,
          })),
        ),
      ),
    );
    prophetSum += prophet;
    const row = byPool.map((p, k) => {
      const t = p.tested[i];
      const value = smape(
        t.values,
        t.horizon,
        t.tested.forecasts!.map((f) => ({ origin: f.origin, f: f.served })),
      );
      sums[k] += value;
      if (value <= prophet) wins[k]++;
      return value;
    });
    say(
      `${c.key.slice(0, 29).padEnd(30)}${prophet.toFixed(1).padStart(8)}${row.map((v) => v.toFixed(1).padStart(10)).join('')}`,
    );
  });
  const k = byPool[0].tested.length;
  say(
    `${'mean'.padEnd(30)}${(prophetSum / k).toFixed(2).padStart(8)}${sums.map((v) => (v / k).toFixed(2).padStart(10)).join('')}`,
  );
  say(
    `${'≤ the better Prophet'.padEnd(30)}${''.padStart(8)}${wins.map((v) => `${v}/${k}`.padStart(10)).join('')}`,
  );
}
