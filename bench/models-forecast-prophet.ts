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
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backtest, MetricsAccumulator, type AccuracyMetrics, type Forecast } from '../ml/forecast';
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

/** Runs the Python driver on one request and collects its JSON lines. */
function runProphet(target: string, request: unknown): Promise<ProphetResult[]> {
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

/** The side-by-side table of cartflow, Prophet and the baselines on the same origins and horizons. */
export async function compareWithProphet(prepared: PreparedData[], horizons = [7, 30]): Promise<void> {
  const target = ensureProphet();
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  say(`\nProphet ${PROPHET_VERSION} on the same held-out days (load average ${load()})`);
  const cases: {
    key: string;
    data: PreparedData;
    values: Float64Array;
    horizon: number;
    tested: ReturnType<typeof backtest>;
    cartflowMs: number;
  }[] = [];
  for (const data of prepared)
    for (const s of data.series.filter((x) => x.name === 'revenue' || x.name === 'orders'))
      for (const horizon of horizons) {
        const started = performance.now();
        const tested = backtest(s.values, data.firstDay, {
          horizon,
          holidays: data.holidays,
          closedWeekdays: data.closedWeekdays,
          skipDays: data.skipDays,
          seed: 1,
          keepForecasts: true,
        });
        cases.push({
          key: `${data.title.split(' (')[0].replace(' sample', '')} ${s.name} ${horizon}d`,
          data,
          values: s.values,
          horizon,
          tested,
          cartflowMs: performance.now() - started,
        });
      }
  const request = {
    variants: ['default', 'closed'],
    series: cases.map((c) => ({
      key: c.key,
      firstDay: formatDay(c.data.firstDay),
      values: Array.from(c.values),
      horizon: c.horizon,
      origins: c.tested.forecasts!.map((f) => f.origin),
      holidays: c.data.holidays.map((h) => ({ ds: formatDay(h.day), holiday: h.name })),
      closedWeekdays: c.data.closedWeekdays,
      skipDays: c.data.skipDays.map(formatDay),
    })),
  };
  const started = performance.now();
  const results = await runProphet(target, request);
  const prophetMs = performance.now() - started;
  const prophetFits = results.length;

  say(
    `${cases[0].tested.origins} weekly origins per series, ending ${cases
      .map((c) => c.horizon)
      .filter((h, i, a) => a.indexOf(h) === i)
      .join(' / ')} days before the data's end; each cell: sMAPE, MAE, 80%/95% coverage`,
  );
  say(`${'series'.padEnd(26)}${METHODS.map((m) => LABELS[m].padEnd(30)).join('')}`);
  const wins = { smape: 0, mae: 0, of: 0 };
  for (const c of cases) {
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
        metrics.cartflow.add(actual, f.additive, h);
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
    wins.of++;
    if (m.cartflow.smape <= bestProphet) wins.smape++;
    if (m.cartflow.mae <= Math.min(m.prophet.mae, m.prophet_closed.mae)) wins.mae++;
    const raw = c.tested.additiveUncalibrated;
    say(
      `${c.key.padEnd(26)}${METHODS.map((k) => cell(m[k]).padEnd(30)).join('')}` +
        `cartflow uncalibrated ${(100 * raw.coverage80).toFixed(0)}%/${(100 * raw.coverage95).toFixed(0)}%`,
    );
  }
  const cartflowMs = cases.reduce((sum, c) => sum + c.cartflowMs, 0);
  say(
    `cartflow's sMAPE ≤ the better Prophet's on ${wins.smape} of ${wins.of} (MAE on ${wins.mae} of ${wins.of}); ` +
      `fit time: cartflow ${(cartflowMs / 1000).toFixed(1)} s for the ${cases.length} backtests (their calibration origins included), ` +
      `Prophet ${(prophetMs / 1000).toFixed(1)} s for ${prophetFits} fits (${(prophetMs / prophetFits).toFixed(0)} ms a fit); load average ${load()}`,
  );
}
