/**
 * Daily forecasts: an additive model of a piecewise-linear trend with automatic changepoints, weekly
 * and yearly Fourier seasonality and holidays (Prophet's design), fitted by regularised least squares,
 * with prediction intervals by simulation, a rolling-origin backtest against two baselines, and the
 * rule that serves a series by a baseline when the model loses to it (docs/models-forecast.md).
 *
 * Pure: a series is a Float64Array of consecutive days from `firstDay` (days since 1970-01-01 UTC).
 * The normal equations' Gram matrix is formed on the TensorFlow.js backend the caller set; the small
 * p×p system is solved in Float64 by Cholesky. Every result is deterministic for its seed.
 */
import * as tf from '@tensorflow/tfjs';
import { isoWeekday, type Holiday } from './holidays';
import { SeededRandom } from './random';

/** How a series' forecast was made. */
export type ForecastMethod = 'additive' | 'seasonal_naive' | 'weekday_mean';

export interface ForecastOptions {
  /** Days ahead, from the day after the last value. */
  horizon: number;
  /** Holidays over the history and the horizon (one learnt effect per name). */
  holidays?: readonly Holiday[];
  /** Candidate changepoints (Prophet's 25), spread evenly over the first `changepointRange` of the history. */
  changepoints?: number;
  changepointRange?: number;
  /** Scale of the Laplace prior on the trend's rate changes, on the max-scaled series over unit time (0.05). */
  changepointScale?: number;
  /** Scale of the Gaussian prior on the seasonal and holiday coefficients (10: nearly free). */
  seasonalityScale?: number;
  weeklyOrder?: number;
  yearlyOrder?: number;
  /**
   * The yearly term needs this many days of history (730, Prophet's default: with one yearly cycle its
   * 20 coefficients cannot be told from a trend change).
   */
  yearlyMinDays?: number;
  /** A weekday with no sales on any of its last `closedWeeks` occurrences is closed (default 4). */
  closedWeeks?: number;
  /** The closed weekdays (ISO 1..7) instead of learning them from this series (a shop's, for its products). */
  closedWeekdays?: readonly number[];
  /**
   * Days (day numbers) the shop was closed outside its closed weekdays and holidays (e.g. no order at
   * all that day): left out of the fit, as they say nothing about demand on an open day.
   */
  skipDays?: readonly number[];
  /**
   * The noise scale the priors are weighed against: `robust` (the default) from week-on-week
   * differences before the fit, `residual` the fit's own residuals (Prophet's joint estimate).
   */
  noise?: 'robust' | 'residual';
  /** `auto`: log1p when the series has no negative value, else none. */
  transform?: 'auto' | 'log1p' | 'none';
  /** Simulated paths for the intervals (default 1000). */
  simulations?: number;
  seed?: number;
}

/** A point forecast and its 80% and 95% prediction intervals, one entry per day ahead. */
export interface Forecast {
  point: Float64Array;
  lower80: Float64Array;
  upper80: Float64Array;
  lower95: Float64Array;
  upper95: Float64Array;
}

export interface AdditiveFit extends Forecast {
  transform: 'log1p' | 'none';
  yearly: boolean;
  changepoints: number;
  closedWeekdays: number[];
  /** Holiday names with a learnt effect. */
  holidays: string[];
  /** The trend's slope per day at the end of the history, in the transformed series' units. */
  finalSlopePerDay: number;
  /** Each fitted holiday effect, in the transformed series' units. */
  holidayEffects: Record<string, number>;
  /** Weekday effects (ISO 1..7, mean 0) in the transformed series' units. */
  weekdayEffects: number[];
  /** What the fit left out or fell back on, in words (e.g. no yearly term under two years of data). */
  notes: string[];
  /** The forecast before the transform is undone: what the intervals' calibration scales. */
  latent: Latent;
}

/**
 * A forecast in the transformed series' units (log1p or none, not max-scaled): the point and the
 * simulated 2.5/10/90/97.5% quantiles per day ahead, and which days are closed (forecast as 0).
 */
export interface Latent {
  transform: 'log1p' | 'none';
  /** The lowest value a day can take (0 for a series without negative days). */
  floor: number;
  point: Float64Array;
  quantiles: [Float64Array, Float64Array, Float64Array, Float64Array];
  closed: Uint8Array;
  /**
   * The point with the trend held at its value on the last day of the history (no extrapolated
   * slope): the season and holidays go on, the level does not. Undefined for a baseline's forecast.
   */
  flatPoint?: Float64Array;
}

/**
 * Factors on the distance of each interval's bounds from the point (in the transformed units), from
 * the backtest's conformal calibration; 1 and 1 leave the simulated intervals as they are.
 */
export interface IntervalScale {
  c80: number;
  c95: number;
  /** Backtest days the factors were estimated from (0: not calibrated). */
  points: number;
}

export const UNCALIBRATED: IntervalScale = { c80: 1, c95: 1, points: 0 };
/** Fewer backtest days than this leave the intervals uncalibrated (a 95% conformal bound needs 19). */
export const MIN_CALIBRATION_POINTS = 20;
/** The largest calibration factor (an interval at most this many times as wide as simulated). */
export const MAX_INTERVAL_SCALE = 10;

export const MIN_HISTORY_DAYS = 28;
const YEAR_DAYS = 365.25;
/** The history the yearly term needs by default: two yearly cycles. */
export const YEARLY_MIN_DAYS = 730;

/** Quantiles of the two intervals, lowest first. */
const QUANTILES = [0.025, 0.1, 0.9, 0.975] as const;

type Transform = Latent['transform'];
const forwardOf = (transform: Transform) => (transform === 'log1p' ? Math.log1p : (v: number) => v);
const inverseOf = (transform: Transform) => (transform === 'log1p' ? Math.expm1 : (v: number) => v);

function requireSeries(values: Float64Array, horizon: number): void {
  if (!Number.isInteger(horizon) || horizon < 1)
    throw new Error(`the horizon must be a whole number of days ≥ 1, not ${horizon}`);
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i]))
      throw new Error(`day ${i} of the series is not a finite number (${values[i]}): fix the series first`);
}

/** The weekdays (ISO) with a zero on every one of their last `weeks` occurrences, when the series has sales then. */
export function learnClosedWeekdays(values: Float64Array, firstDay: number, weeks: number): number[] {
  const n = values.length;
  if (n < 7 * weeks) return [];
  let anySale = false;
  for (let i = n - 7 * weeks; i < n; i++) if (values[i] !== 0) anySale = true;
  if (!anySale) return [];
  const closed: number[] = [];
  for (let back = 0; back < 7; back++) {
    const last = n - 1 - back;
    let allZero = true;
    for (let w = 0; w < weeks; w++) if (values[last - 7 * w] !== 0) allZero = false;
    if (allZero) closed.push(isoWeekday(firstDay + last));
  }
  return closed.sort((a, b) => a - b);
}

/** Solves A x = b for a symmetric positive definite A (row-major p×p) in Float64 by Cholesky; undefined when A is not. */
export function choleskySolve(A: Float64Array, b: Float64Array, p: number): Float64Array | undefined {
  const L = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i * p + j];
      for (let k = 0; k < j; k++) sum -= L[i * p + k] * L[j * p + k];
      if (i === j) {
        if (!(sum > 0)) return undefined;
        L[i * p + i] = Math.sqrt(sum);
      } else L[i * p + j] = sum / L[j * p + j];
    }
  }
  const z = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= L[i * p + k] * z[k];
    z[i] = sum / L[i * p + i];
  }
  const x = new Float64Array(p);
  for (let i = p - 1; i >= 0; i--) {
    let sum = z[i];
    for (let k = i + 1; k < p; k++) sum -= L[k * p + i] * x[k];
    x[i] = sum / L[i * p + i];
  }
  return x;
}

/** The columns of the design: which kind each is, so each gets its prior. */
type ColumnKind = 'level' | 'slope' | 'changepoint' | 'seasonal' | 'holiday';

interface Design {
  kinds: ColumnKind[];
  /** Changepoint positions in scaled time. */
  changepointTimes: number[];
  holidayNames: string[];
  yearly: boolean;
  row(index: number, out: Float64Array): void;
}

function buildDesign(
  n: number,
  firstDay: number,
  training: Uint8Array,
  options: Required<
    Pick<
      ForecastOptions,
      'changepoints' | 'changepointRange' | 'weeklyOrder' | 'yearlyOrder' | 'yearlyMinDays'
    >
  >,
  holidays: readonly Holiday[],
): Design {
  const span = Math.max(n - 1, 1);
  const cpCount = Math.min(options.changepoints, Math.floor((options.changepointRange * n) / 7));
  const cpLast = Math.floor(options.changepointRange * n) - 1;
  const changepointTimes: number[] = [];
  for (let j = 1; j <= cpCount; j++) changepointTimes.push(Math.round((j * cpLast) / cpCount) / span);
  const yearly = n >= options.yearlyMinDays && options.yearlyOrder > 0;
  const holidayOf = new Map<number, string>();
  for (const h of holidays) holidayOf.set(h.day, h.name);
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const name = holidayOf.get(firstDay + i);
    if (name !== undefined && training[i]) seen.add(name);
  }
  const holidayNames = [...seen].sort();
  const holidayColumn = new Map(holidayNames.map((name, k) => [name, k]));
  const kinds: ColumnKind[] = ['level', 'slope'];
  for (let j = 0; j < cpCount; j++) kinds.push('changepoint');
  const seasonalTerms = 2 * options.weeklyOrder + (yearly ? 2 * options.yearlyOrder : 0);
  for (let j = 0; j < seasonalTerms; j++) kinds.push('seasonal');
  for (let j = 0; j < holidayNames.length; j++) kinds.push('holiday');
  const seasonalStart = 2 + cpCount;
  const holidayStart = seasonalStart + seasonalTerms;
  return {
    kinds,
    changepointTimes,
    holidayNames,
    yearly,
    row(index, out) {
      out.fill(0);
      const t = index / span;
      const day = firstDay + index;
      out[0] = 1;
      out[1] = t;
      for (let j = 0; j < cpCount; j++) out[2 + j] = Math.max(0, t - changepointTimes[j]);
      let c = seasonalStart;
      for (let k = 1; k <= options.weeklyOrder; k++) {
        const angle = (2 * Math.PI * k * day) / 7;
        out[c++] = Math.sin(angle);
        out[c++] = Math.cos(angle);
      }
      if (yearly)
        for (let k = 1; k <= options.yearlyOrder; k++) {
          const angle = (2 * Math.PI * k * day) / YEAR_DAYS;
          out[c++] = Math.sin(angle);
          out[c++] = Math.cos(angle);
        }
      const name = holidayOf.get(day);
      const column = name === undefined ? undefined : holidayColumn.get(name);
      if (column !== undefined) out[holidayStart + column] = 1;
    },
  };
}

/** Median absolute deviation based noise scale of the week-on-week differences (robust to trend and weekly cycle). */
function robustNoise(y: Float64Array, training: Uint8Array): number {
  const diffs: number[] = [];
  for (let i = 7; i < y.length; i++)
    if (training[i] && training[i - 7]) diffs.push(Math.abs(y[i] - y[i - 7]));
  if (diffs.length === 0) return 0;
  diffs.sort((a, b) => a - b);
  const mad = diffs[Math.floor(diffs.length / 2)];
  return mad / 0.6745 / Math.SQRT2;
}

function quantileSorted(sorted: Float64Array | number[], q: number): number {
  const position = q * (sorted.length - 1);
  const lower = Math.floor(position);
  const upper = Math.min(lower + 1, sorted.length - 1);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

/** Orders the five values of each day (lower_95 ≤ lower_80 ≤ point ≤ upper_80 ≤ upper_95) and clamps at `floor`. */
function orderIntervals(f: Forecast, floor: number): void {
  for (let h = 0; h < f.point.length; h++) {
    const point = Math.max(floor, f.point[h]);
    const lower80 = Math.max(floor, Math.min(f.lower80[h], point));
    const lower95 = Math.max(floor, Math.min(f.lower95[h], lower80));
    const upper80 = Math.max(f.upper80[h], point);
    const upper95 = Math.max(f.upper95[h], upper80);
    f.point[h] = point;
    f.lower80[h] = lower80;
    f.lower95[h] = lower95;
    f.upper80[h] = upper80;
    f.upper95[h] = upper95;
  }
}

const emptyForecast = (horizon: number): Forecast => ({
  point: new Float64Array(horizon),
  lower80: new Float64Array(horizon),
  upper80: new Float64Array(horizon),
  lower95: new Float64Array(horizon),
  upper95: new Float64Array(horizon),
});

/**
 * Fits the additive model to `values` (days from `firstDay`) and forecasts `horizon` days ahead.
 *
 * y(t) = trend(t) + weekly(t) + yearly(t) + holiday(t) + ε on the transformed, max-scaled series, with
 * trend(t) = m + k·t + Σ δⱼ·(t − sⱼ)₊ (t from 0 to 1 over the history). The coefficients are the MAP
 * estimate under a Laplace(0, changepointScale) prior on the δⱼ (iteratively reweighted ridge) and a
 * Gaussian(0, seasonalityScale) prior on the seasonal and holiday coefficients, with the noise scale
 * estimated robustly from week-on-week differences. Zero days on closed weekdays are left out of the
 * fit and forecast as 0. Intervals: 1000 simulated futures of the trend (new changepoints at the
 * history's rate, rate changes drawn from Laplace(0, mean |δ|)) plus residuals resampled from the fit.
 */
export function fitAdditive(values: Float64Array, firstDay: number, options: ForecastOptions): AdditiveFit {
  const { horizon } = options;
  requireSeries(values, horizon);
  const n = values.length;
  if (n < MIN_HISTORY_DAYS)
    throw new Error(`the additive model needs at least ${MIN_HISTORY_DAYS} days of history, not ${n}`);
  const notes: string[] = [];
  const closedWeeks = options.closedWeeks ?? 4;
  const closedWeekdays = [...(options.closedWeekdays ?? learnClosedWeekdays(values, firstDay, closedWeeks))];
  const closed = new Set(closedWeekdays);
  let minimum = Infinity;
  for (const v of values) minimum = Math.min(minimum, v);
  const requested = options.transform ?? 'auto';
  if (requested === 'log1p' && minimum <= -1)
    throw new Error('log1p needs every value above −1: use transform none for a series with refunds');
  const transform: 'log1p' | 'none' =
    requested === 'none' || (requested === 'auto' && minimum < 0) ? 'none' : 'log1p';
  const forward = forwardOf(transform);

  const training = new Uint8Array(n);
  const skipped = new Set(options.skipDays ?? []);
  const holidayDays = new Set((options.holidays ?? []).map((h) => h.day));
  let trainingRows = 0;
  for (let i = 0; i < n; i++)
    if (
      !(values[i] === 0 && closed.has(isoWeekday(firstDay + i))) &&
      !(skipped.has(firstDay + i) && !holidayDays.has(firstDay + i))
    ) {
      training[i] = 1;
      trainingRows++;
    }
  const transformed = Float64Array.from(values, forward);
  let scale = 0;
  for (let i = 0; i < n; i++) if (training[i]) scale = Math.max(scale, Math.abs(transformed[i]));
  if (scale === 0) scale = 1;
  const y = Float64Array.from(transformed, (v) => v / scale);

  const holidays = options.holidays ?? [];
  const design = buildDesign(
    n,
    firstDay,
    training,
    {
      changepoints: options.changepoints ?? 25,
      changepointRange: options.changepointRange ?? 0.8,
      weeklyOrder: options.weeklyOrder ?? 3,
      yearlyOrder: options.yearlyOrder ?? 10,
      yearlyMinDays: options.yearlyMinDays ?? YEARLY_MIN_DAYS,
    },
    holidays,
  );
  if (!design.yearly && n < (options.yearlyMinDays ?? YEARLY_MIN_DAYS))
    notes.push(
      `no yearly seasonality: ${n} days of history, under the ${options.yearlyMinDays ?? YEARLY_MIN_DAYS} (two yearly cycles) it needs`,
    );
  if (closedWeekdays.length > 0)
    notes.push(`closed weekdays ${closedWeekdays.join(', ')} (ISO) forecast as 0`);
  const p = design.kinds.length;

  // The training rows of the design, and the Gram matrix XᵀX and Xᵀy on the TensorFlow.js backend.
  const X = new Float32Array(trainingRows * p);
  const Y = new Float32Array(trainingRows);
  const row = new Float64Array(p);
  for (let i = 0, r = 0; i < n; i++) {
    if (!training[i]) continue;
    design.row(i, row);
    X.set(row, r * p);
    Y[r] = y[i];
    r++;
  }
  const [gram, moment] = tf.tidy(() => {
    const x = tf.tensor2d(X, [trainingRows, p]);
    const yy = tf.tensor2d(Y, [trainingRows, 1]);
    return [tf.matMul(x, x, true, false).dataSync(), tf.matMul(x, yy, true, false).dataSync()];
  });
  const G = Float64Array.from(gram);
  const b = Float64Array.from(moment);

  const sigma = Math.max(robustNoise(y, training), 1e-3);
  let sigma2 = sigma * sigma;
  const cpScale = options.changepointScale ?? 0.05;
  const seasonalScale = options.seasonalityScale ?? 10;
  const penalty = new Float64Array(p);
  const startPenalties = () =>
    design.kinds.forEach((kind, j) => {
      penalty[j] =
        kind === 'level' || kind === 'slope'
          ? 1e-8 * trainingRows
          : kind === 'changepoint'
            ? sigma2 / (cpScale * cpScale)
            : sigma2 / (seasonalScale * seasonalScale);
    });
  startPenalties();
  // The Gram matrix is formed in float32: a jitter of 1e-6 of its largest diagonal entry (raised
  // tenfold while Cholesky still fails) keeps the nearly collinear trend columns solvable.
  let largestDiagonal = 0;
  for (let j = 0; j < p; j++) largestDiagonal = Math.max(largestDiagonal, G[j * p + j]);
  const solve = () => {
    for (let jitter = 1e-6 * largestDiagonal; ; jitter *= 10) {
      const A = Float64Array.from(G);
      for (let j = 0; j < p; j++) A[j * p + j] += penalty[j] + jitter;
      const x = choleskySolve(A, b, p);
      if (x || jitter > largestDiagonal) {
        if (!x) throw new Error('the regularised normal equations are not positive definite');
        return x;
      }
    }
  };
  let beta = solve();
  // Laplace prior on the rate changes: |δ| ≤ δ²/(2|δ₀|) + |δ₀|/2, so each step is a ridge with λⱼ = σ²/(b·|δ₀ⱼ|).
  const reweight = () => {
    for (let iteration = 0; iteration < 10; iteration++) {
      design.kinds.forEach((kind, j) => {
        if (kind === 'changepoint')
          penalty[j] = sigma2 / (cpScale * Math.max(Math.abs(beta[j]), 1e-4 * cpScale));
      });
      beta = solve();
    }
  };
  reweight();
  if (options.noise === 'residual') {
    // Prophet's joint estimate: σ² = the residuals' mean square at the fit, refitted until it settles.
    let yy = 0;
    for (const v of Y) yy += v * v;
    for (let round = 0; round < 3; round++) {
      let rss = yy;
      for (let j = 0; j < p; j++) {
        rss -= 2 * beta[j] * b[j];
        for (let k = 0; k < p; k++) rss += beta[j] * G[j * p + k] * beta[k];
      }
      sigma2 = Math.max(rss / trainingRows, 1e-6);
      startPenalties();
      beta = solve();
      reweight();
    }
  }

  // Residuals on the training rows, scaled up for the degrees of freedom the fit used.
  const fitted = new Float64Array(n);
  const residuals: number[] = [];
  for (let i = 0; i < n; i++) {
    design.row(i, row);
    let value = 0;
    for (let j = 0; j < p; j++) value += row[j] * beta[j];
    fitted[i] = value;
    if (training[i]) residuals.push(y[i] - value);
  }
  const recent = residuals.slice(-Math.min(residuals.length, 365));
  const inflation = Math.sqrt(trainingRows / Math.max(trainingRows - p, trainingRows / 2));

  // The future: the design's rows past the history (time keeps its scale), with the last known holidays.
  const future = new Float64Array(horizon);
  for (let h = 0; h < horizon; h++) {
    design.row(n + h, row);
    let value = 0;
    for (let j = 0; j < p; j++) value += row[j] * beta[j];
    future[h] = value;
  }

  const cpIndices = design.kinds.flatMap((kind, j) => (kind === 'changepoint' ? [j] : []));
  const deltas = cpIndices.map((j) => beta[j]);
  const meanAbsDelta = deltas.length ? deltas.reduce((s, d) => s + Math.abs(d), 0) / deltas.length : 0;
  const cpPerDay = deltas.length / n;
  const dt = 1 / Math.max(n - 1, 1);
  const simulations = options.simulations ?? 1000;
  const random = new SeededRandom(options.seed ?? 1, 14);
  const paths = Array.from({ length: horizon }, () => new Float64Array(simulations));
  for (let s = 0; s < simulations; s++) {
    let slopeChange = 0;
    let offset = 0;
    for (let h = 0; h < horizon; h++) {
      offset += slopeChange * dt;
      if (meanAbsDelta > 0 && random.next() < cpPerDay) {
        // Laplace(0, mean|δ|) as the difference of two exponentials.
        slopeChange += meanAbsDelta * (Math.log(1 - random.next()) - Math.log(1 - random.next()));
      }
      const noise = recent.length ? recent[random.below(recent.length)] * inflation : 0;
      paths[h][s] = future[h] + offset + noise;
    }
  }
  // The trend's slope past the last changepoint, per day in the scaled units.
  const slopePerStep = (beta[1] + deltas.reduce((sum, d) => sum + d, 0)) * dt;
  const latent: Latent = {
    transform,
    floor: minimum >= 0 ? 0 : -Infinity,
    point: Float64Array.from(future, (v) => v * scale),
    flatPoint: Float64Array.from(future, (v, h) => (v - slopePerStep * (h + 1)) * scale),
    quantiles: [0, 1, 2, 3].map(() => new Float64Array(horizon)) as Latent['quantiles'],
    closed: new Uint8Array(horizon),
  };
  for (let h = 0; h < horizon; h++) {
    latent.closed[h] = closed.has(isoWeekday(firstDay + n + h)) ? 1 : 0;
    const sorted = paths[h].sort();
    QUANTILES.forEach((q, k) => (latent.quantiles[k][h] = quantileSorted(sorted, q) * scale));
  }
  const result = intervalsOf(latent, UNCALIBRATED);

  const slopeEnd = slopePerStep * scale;
  const holidayEffects: Record<string, number> = {};
  const holidayStart = p - design.holidayNames.length;
  design.holidayNames.forEach((name, k) => (holidayEffects[name] = beta[holidayStart + k] * scale));
  const weeklyOrder = options.weeklyOrder ?? 3;
  const seasonalStart = 2 + cpIndices.length;
  const weekdayEffects = new Array<number>(7).fill(0);
  for (let offset = 0; offset < 7; offset++) {
    const day = firstDay + offset;
    let value = 0;
    for (let k = 1; k <= weeklyOrder; k++) {
      const angle = (2 * Math.PI * k * day) / 7;
      value +=
        beta[seasonalStart + 2 * (k - 1)] * Math.sin(angle) +
        beta[seasonalStart + 2 * (k - 1) + 1] * Math.cos(angle);
    }
    weekdayEffects[isoWeekday(day) - 1] = value * scale;
  }
  return {
    ...result,
    transform,
    yearly: design.yearly,
    changepoints: cpIndices.length,
    closedWeekdays,
    holidays: design.holidayNames,
    finalSlopePerDay: slopeEnd,
    holidayEffects,
    weekdayEffects,
    notes,
    latent,
  };
}

/**
 * The forecast of a latent one with each interval's bounds moved to `point ± c·(quantile − point)` in
 * the transformed units (c80 for the 80% interval, c95 for the 95% one), transformed back, ordered
 * around the point and clamped at the floor; closed days are 0.
 */
export function intervalsOf(latent: Latent, scale: IntervalScale): Forecast {
  const horizon = latent.point.length;
  const inverse = inverseOf(latent.transform);
  const result = emptyForecast(horizon);
  const outputs = [result.lower95, result.lower80, result.upper80, result.upper95];
  const factors = [scale.c95, scale.c80, scale.c80, scale.c95];
  for (let h = 0; h < horizon; h++) {
    if (latent.closed[h]) continue;
    const z = latent.point[h];
    result.point[h] = inverse(z);
    outputs.forEach((out, k) => (out[h] = inverse(z + factors[k] * (latent.quantiles[k][h] - z))));
  }
  orderIntervals(result, latent.floor);
  return result;
}

/**
 * The nonconformity scores of an actual day h ahead against a latent forecast: the smallest factor c
 * for which `intervalsOf` would put it inside the 80% (95%) interval — its distance from the point
 * over the distance of the bound on its side (transformed units). Undefined on a closed day (forecast
 * as 0, not an interval).
 */
export function intervalScores(latent: Latent, h: number, actual: number): [number, number] | undefined {
  if (latent.closed[h]) return undefined;
  const z = forwardOf(latent.transform)(Math.max(actual, latent.floor));
  const point = latent.point[h];
  const [q025, q10, q90, q975] = latent.quantiles.map((q) => q[h]);
  const score = (lower: number, upper: number) => {
    if (z === point) return 0;
    const distance = z > point ? upper - point : point - lower;
    return distance > 0 ? Math.abs(z - point) / distance : Infinity;
  };
  return [score(q10, q90), score(q025, q975)];
}

/**
 * Split-conformal factors from past scores: the ⌈(m+1)·q⌉-th smallest of the m scores for each level,
 * so that a new day from the same distribution falls inside with probability ≥ q. Under
 * MIN_CALIBRATION_POINTS scores: uncalibrated.
 */
export function conformalScale(scores: readonly [number, number][]): IntervalScale {
  const m = scores.length;
  if (m < MIN_CALIBRATION_POINTS) return UNCALIBRATED;
  const factor = (level: number, k: 0 | 1) => {
    const sorted = scores.map((s) => s[k]).sort((a, b) => a - b);
    // An actual on the wrong side of a bound that crossed the point scores ∞: the factor stays finite.
    return Math.min(sorted[Math.min(m, Math.ceil((m + 1) * level)) - 1], MAX_INTERVAL_SCALE);
  };
  return { c80: factor(0.8, 0), c95: factor(0.95, 1), points: m };
}

/** Empirical quantiles of a baseline's own past errors, as offsets from its point forecast. */
function errorQuantiles(errors: number[]): number[] {
  if (errors.length === 0) return QUANTILES.map(() => 0);
  const sorted = [...errors].sort((a, b) => a - b);
  return QUANTILES.map((q) => quantileSorted(sorted, q));
}

/**
 * A baseline's forecast: `predict(i)` is its point forecast of day i from the days before `origin`
 * only. The intervals add the quantiles of its errors over the last year of the history (its forecast
 * of each past day from the days before it), widened by √(weeks ahead) for the horizon.
 */
function baselineForecast(
  values: Float64Array,
  horizon: number,
  lookback: number,
  predictAhead: (h: number) => number,
  pastError: (i: number) => number,
): Forecast {
  const n = values.length;
  const errors: number[] = [];
  for (let i = Math.max(lookback, n - 364); i < n; i++) errors.push(pastError(i));
  const [q025, q10, q90, q975] = errorQuantiles(errors);
  const result = emptyForecast(horizon);
  let minimum = Infinity;
  for (const v of values) minimum = Math.min(minimum, v);
  for (let h = 0; h < horizon; h++) {
    const widen = Math.sqrt(Math.ceil((h + 1) / 7));
    const point = predictAhead(h);
    result.point[h] = point;
    result.lower95[h] = point + q025 * widen;
    result.lower80[h] = point + q10 * widen;
    result.upper80[h] = point + q90 * widen;
    result.upper95[h] = point + q975 * widen;
  }
  orderIntervals(result, minimum >= 0 ? 0 : -Infinity);
  return result;
}

/** Seasonal naive: every day ahead is the same weekday of the last week of the history. */
export function seasonalNaive(values: Float64Array, horizon: number): Forecast {
  const n = values.length;
  if (n < 7) throw new Error(`seasonal naive needs at least 7 days of history, not ${n}`);
  return baselineForecast(
    values,
    horizon,
    7,
    (h) => values[n - 7 + (h % 7)],
    (i) => values[i] - values[i - 7],
  );
}

/** The mean of the same weekday over the last four weeks of the history. */
export function weekdayMean(values: Float64Array, horizon: number): Forecast {
  const n = values.length;
  if (n < 28) throw new Error(`the weekday mean needs at least 28 days of history, not ${n}`);
  const meanBefore = (i: number) => (values[i - 7] + values[i - 14] + values[i - 21] + values[i - 28]) / 4;
  return baselineForecast(
    values,
    horizon,
    28,
    (h) => meanBefore(n + (h % 7)),
    (i) => values[i] - meanBefore(i),
  );
}

/** What a served forecast can be made of: the model (on either transform, its trend extrapolated or held flat) and the baselines. */
export type ForecastSource =
  'log1p' | 'none' | 'log1p_flat' | 'none_flat' | 'weekday_mean' | 'seasonal_naive';

/**
 * One forecast the backtest can serve a series with: a weighted mean of sources' points in the
 * transformed units of `transform` (its model's simulated intervals move with the point), or a
 * baseline alone (its own intervals).
 */
export interface Candidate {
  name: string;
  transform: Transform;
  weights: Partial<Record<ForecastSource, number>>;
}

const candidate = (name: string, transform: Transform, weights: Candidate['weights']): Candidate => ({
  name,
  transform,
  weights,
});

/** The model alone on either transform (the choice the version's `additive` metrics report). */
export const MODEL_CANDIDATES: readonly Candidate[] = [
  candidate('log1p', 'log1p', { log1p: 1 }),
  candidate('none', 'none', { none: 1 }),
];

/**
 * The combination a series is served with (unless a baseline is better by SWITCH_MARGIN): the mean in
 * log1p units of the model on log1p and on the series as it is, each with its trend extrapolated and
 * held flat.
 */
export const SERVED_COMBINATION: Candidate = candidate('log1p+none+flat', 'log1p', {
  log1p: 0.25,
  none: 0.25,
  log1p_flat: 0.25,
  none_flat: 0.25,
});

/** The baselines alone, with their own intervals. */
const BASELINE_CANDIDATES: readonly Candidate[] = [
  candidate('weekday_mean', 'none', { weekday_mean: 1 }),
  candidate('seasonal_naive', 'none', { seasonal_naive: 1 }),
];

/** Named pools of candidates, for the bench's comparison of serving rules; `serve` is the default. */
export const CANDIDATE_POOLS: Record<string, readonly Candidate[]> = {
  model: MODEL_CANDIDATES,
  baselines: [...MODEL_CANDIDATES, ...BASELINE_CANDIDATES],
  combined: [
    ...MODEL_CANDIDATES,
    candidate('log1p+none', 'log1p', { log1p: 0.5, none: 0.5 }),
    candidate('log1p+weekday_mean', 'log1p', { log1p: 0.75, weekday_mean: 0.25 }),
    candidate('none+weekday_mean', 'none', { none: 0.75, weekday_mean: 0.25 }),
    ...BASELINE_CANDIDATES,
  ],
  flat: [
    ...MODEL_CANDIDATES,
    candidate('log1p_flat', 'log1p', { log1p_flat: 1 }),
    candidate('none_flat', 'none', { none_flat: 1 }),
    ...BASELINE_CANDIDATES,
  ],
  all: [
    ...MODEL_CANDIDATES,
    candidate('log1p_flat', 'log1p', { log1p_flat: 1 }),
    candidate('none_flat', 'none', { none_flat: 1 }),
    candidate('log1p+none', 'log1p', { log1p: 0.5, none: 0.5 }),
    candidate('log1p+weekday_mean', 'log1p', { log1p: 0.75, weekday_mean: 0.25 }),
    candidate('none+weekday_mean', 'none', { none: 0.75, weekday_mean: 0.25 }),
    ...BASELINE_CANDIDATES,
  ],
  mean3: [candidate('log1p+none+weekday_mean', 'log1p', { log1p: 1 / 3, none: 1 / 3, weekday_mean: 1 / 3 })],
  mean2: [candidate('log1p+none', 'log1p', { log1p: 0.5, none: 0.5 })],
  mean2none: [candidate('log1p+none', 'none', { log1p: 0.5, none: 0.5 })],
  'mean2+baselines': [candidate('log1p+none', 'log1p', { log1p: 0.5, none: 0.5 }), ...BASELINE_CANDIDATES],
  'mean3+baselines': [
    candidate('log1p+none+weekday_mean', 'log1p', { log1p: 1 / 3, none: 1 / 3, weekday_mean: 1 / 3 }),
    ...BASELINE_CANDIDATES,
  ],
  'mean2+flat+baselines': [SERVED_COMBINATION, ...BASELINE_CANDIDATES],
  'mean2+flat': [SERVED_COMBINATION],
  log1p: [MODEL_CANDIDATES[0]],
  none: [MODEL_CANDIDATES[1]],
};
CANDIDATE_POOLS.serve = CANDIDATE_POOLS['mean2+flat+baselines'];

const BASELINES = ['weekday_mean', 'seasonal_naive'] as const;

/**
 * The backtest serves another candidate than its pool's first (the model's combination) only when its
 * sMAPE on the calibration origins is this share below the first's: choosing among forecasts on 56
 * days is noisy, and a switch on a small difference loses more often than it wins.
 */
export const SWITCH_MARGIN = 0.2;

/** What the candidates of one origin are made of: the model's fits by transform and the baselines' forecasts. */
interface Sources {
  fits: Map<Transform, AdditiveFit>;
  weekday_mean: Forecast;
  seasonal_naive: Forecast;
}

/** A candidate's baseline when it is a baseline alone, else undefined. */
function baselineAlone(c: Candidate): (typeof BASELINES)[number] | undefined {
  const keys = Object.keys(c.weights) as ForecastSource[];
  return keys.length === 1 && (BASELINES as readonly string[]).includes(keys[0])
    ? (keys[0] as (typeof BASELINES)[number])
    : undefined;
}

/** The transforms a candidate's model sources need fitted. */
function transformsOf(c: Candidate): Transform[] {
  if (baselineAlone(c)) return [];
  const needed = new Set<Transform>([c.transform]);
  for (const source of Object.keys(c.weights))
    if (source.startsWith('log1p')) needed.add('log1p');
    else if (source.startsWith('none')) needed.add('none');
  return [...needed];
}

/**
 * A candidate as it can be made from the transforms fitted: its sources on other transforms left out
 * and the others' weights scaled up to 1 (on a series with a negative day, log1p + none is none
 * alone), made in the first fitted transform when its own was not fitted; undefined when none of its
 * sources is left.
 */
function restrictCandidate(c: Candidate, fitted: readonly Transform[]): Candidate | undefined {
  if (transformsOf(c).every((t) => fitted.includes(t))) return c;
  const transformOfSource = (source: string): Transform => (source.startsWith('log1p') ? 'log1p' : 'none');
  const kept = Object.entries(c.weights).filter(([source]) => fitted.includes(transformOfSource(source)));
  const total = kept.reduce((sum, [, w]) => sum + w!, 0);
  if (kept.length === 0 || total <= 0) return undefined;
  const weights = Object.fromEntries(kept.map(([source, w]) => [source, w! / total]));
  return {
    name: kept.map(([source]) => source).join('+'),
    transform: fitted.includes(c.transform) ? c.transform : fitted[0],
    weights,
  };
}

/**
 * A candidate's latent forecast from one origin's sources, or undefined when it needs a transform
 * that was not fitted (log1p on a series with a negative day). The combination is made in the
 * candidate's transformed units, the model's simulated quantiles moved by the shift of its point; a
 * baseline alone keeps its own intervals (as a latent forecast in the series' units). Closed
 * weekdays stay 0.
 */
function candidateLatent(c: Candidate, sources: Sources): Latent | undefined {
  const anyFit = sources.fits.values().next().value as AdditiveFit;
  const baseline = baselineAlone(c);
  if (baseline) {
    const f = sources[baseline];
    return {
      transform: 'none',
      floor: anyFit.latent.floor,
      point: f.point,
      quantiles: [f.lower95, f.lower80, f.upper80, f.upper95],
      closed: anyFit.latent.closed,
    };
  }
  const primary = sources.fits.get(c.transform)?.latent;
  if (!primary || transformsOf(c).some((t) => !sources.fits.has(t))) return undefined;
  const keys = Object.keys(c.weights) as ForecastSource[];
  if (keys.length === 1 && keys[0] === c.transform) return primary;
  const forward = forwardOf(c.transform);
  const horizon = primary.point.length;
  const point = new Float64Array(horizon);
  for (const source of keys) {
    const weight = c.weights[source]!;
    for (let h = 0; h < horizon; h++) {
      let z: number;
      if (source === 'weekday_mean' || source === 'seasonal_naive')
        z = forward(Math.max(primary.floor, sources[source].point[h]));
      else {
        const latent = sources.fits.get(source.startsWith('log1p') ? 'log1p' : 'none')!.latent;
        const own = source.endsWith('_flat') ? latent.flatPoint! : latent.point;
        z =
          latent.transform === c.transform
            ? own[h]
            : forward(Math.max(primary.floor, inverseOf(latent.transform)(own[h])));
      }
      point[h] += weight * z;
    }
  }
  const quantiles = primary.quantiles.map((q) =>
    Float64Array.from(q, (v, h) => v + point[h] - primary.point[h]),
  ) as Latent['quantiles'];
  return { ...primary, point, quantiles, flatPoint: undefined };
}

/** The point forecast of a latent one in the series' units (closed days 0, clamped at the floor). */
function pointOf(latent: Latent, h: number): number {
  return latent.closed[h] ? 0 : Math.max(latent.floor, inverseOf(latent.transform)(latent.point[h]));
}

/** Symmetric absolute percentage error of one day (0 when both are 0), as a fraction of 2. */
const symmetricError = (actual: number, forecast: number) => {
  const denominator = Math.abs(actual) + Math.abs(forecast);
  return denominator === 0 ? 0 : (2 * Math.abs(actual - forecast)) / denominator;
};

export interface AccuracyMetrics {
  mae: number;
  /** Symmetric MAPE in percent: mean of 2|y − ŷ| / (|y| + |ŷ|), a day with both 0 counting 0. */
  smape: number;
  coverage80: number;
  coverage95: number;
}

export interface Backtest {
  origins: number;
  horizon: number;
  points: number;
  /**
   * The model alone, on the transform chosen on the origins before each scored one, its intervals
   * calibrated on those origins (see `backtest`).
   */
  additive: AccuracyMetrics;
  /** The model's coverage with its simulated intervals as they are, for comparison. */
  additiveUncalibrated: Pick<AccuracyMetrics, 'coverage80' | 'coverage95'>;
  seasonal_naive: AccuracyMetrics;
  weekday_mean: AccuracyMetrics;
  /**
   * The forecast as it is served: at each scored origin the candidate (model, combination or
   * baseline) with the lowest sMAPE on the origins before it, its intervals calibrated on them.
   */
  served: AccuracyMetrics;
  /** The candidate each scored origin was served by. */
  originCandidates: string[];
  /**
   * The candidate the served forecast takes: the pool's first (`defaultCandidate`) unless another had
   * an sMAPE on the last origins `switchMargin` below it, then the lowest.
   */
  candidate: Candidate;
  defaultCandidate: string;
  /** Each candidate's sMAPE on the last origins (the ones the served candidate was chosen on). */
  candidateSmape: Record<string, number>;
  /** The factors the served forecast's intervals get: from the last origins whose days are all known. */
  intervalScale: IntervalScale;
  /**
   * The model's transform at the end of the series: with transform `auto` on a series without
   * negative days, of log1p and none the one whose points had the lower sMAPE on the last origins.
   */
  transform: 'log1p' | 'none';
  /** Each scored origin's forecasts (with `keepForecasts`): the model's and the served one with their calibrated intervals. */
  forecasts?: {
    origin: number;
    additive: Forecast;
    served: Forecast;
    seasonal_naive: Forecast;
    weekday_mean: Forecast;
  }[];
}

/**
 * The origins of a rolling-origin backtest over a series of n days: the last `count` days, a week
 * apart, from which all `horizon` days ahead are known (n − horizon, n − horizon − 7, …), ascending,
 * leaving out those with under MIN_HISTORY_DAYS of history before them.
 */
export function backtestOrigins(n: number, horizon: number, count: number): number[] {
  const origins: number[] = [];
  for (let k = count; k >= 1; k--) {
    const origin = n - horizon - 7 * (k - 1);
    if (origin >= MIN_HISTORY_DAYS) origins.push(origin);
  }
  return origins;
}

/** MAE, sMAPE and interval coverage over the days added. */
export class MetricsAccumulator {
  private absolute = 0;
  private symmetric = 0;
  private in80 = 0;
  private in95 = 0;
  private count = 0;

  add(actual: number, f: Forecast, h: number): void {
    const error = Math.abs(actual - f.point[h]);
    const denominator = Math.abs(actual) + Math.abs(f.point[h]);
    this.absolute += error;
    this.symmetric += denominator === 0 ? 0 : (2 * error) / denominator;
    if (actual >= f.lower80[h] && actual <= f.upper80[h]) this.in80++;
    if (actual >= f.lower95[h] && actual <= f.upper95[h]) this.in95++;
    this.count++;
  }

  result(): AccuracyMetrics {
    const n = Math.max(this.count, 1);
    return {
      mae: this.absolute / n,
      smape: (100 * this.symmetric) / n,
      coverage80: this.in80 / n,
      coverage95: this.in95 / n,
    };
  }
}

/**
 * Rolling-origin backtest: `origins` origins a week apart ending `horizon` days before the end (for 7
 * days: n − 7, n − 14, …, see `backtestOrigins`), each model fitted on the days before its origin
 * only and scored on the `horizon` days from it.
 *
 * Every choice is made out of sample, on the last `calibrationOrigins` origins before each scored one
 * whose days ahead are all before it (the backtest fits that many origins more than it scores), so a
 * scored day never chooses its own forecast or calibrates its own interval:
 * - the model's transform (`additive`): log1p or the series as it is, whichever had the lower sMAPE;
 * - the served forecast (`served`): of the `candidates` (the model on either transform, their
 *   combinations with each other and with the weekday mean, the baselines alone), the one with the
 *   lowest sMAPE;
 * - each one's intervals: split-conformal factors from the scores (`intervalScores`) of its own
 *   forecasts on those days.
 * `transform`, `candidate` and `intervalScale` are what the same rules give at the end of the series,
 * for the served forecast.
 */
export function backtest(
  values: Float64Array,
  firstDay: number,
  options: Omit<ForecastOptions, 'horizon'> & {
    origins?: number;
    horizon?: number;
    calibrationOrigins?: number;
    keepForecasts?: boolean;
    /** The candidates the served forecast is chosen from (default `CANDIDATE_POOLS.serve`), first on a tie. */
    candidates?: readonly Candidate[];
    switchMargin?: number;
  },
): Backtest {
  const horizon = options.horizon ?? 7;
  const wanted = options.origins ?? 8;
  const calibrationOrigins = options.calibrationOrigins ?? 8;
  const switchMargin = options.switchMargin ?? SWITCH_MARGIN;
  const n = values.length;
  const requested = options.transform ?? 'auto';
  const transforms: Transform[] =
    requested !== 'auto' ? [requested] : values.some((v) => v < 0) ? ['none'] : ['log1p', 'none'];
  const modelPool = MODEL_CANDIDATES.flatMap((c) => restrictCandidate(c, transforms) ?? []);
  const servePool = (options.candidates ?? CANDIDATE_POOLS.serve)
    .flatMap((c) => restrictCandidate(c, transforms) ?? [])
    .filter((c, i, all) => all.findIndex((d) => d.name === c.name) === i);
  const pool = [...modelPool, ...servePool.filter((c) => !modelPool.some((m) => m.name === c.name))];
  const runs = backtestOrigins(n, horizon, wanted + calibrationOrigins).map((origin) => {
    const history = values.subarray(0, origin);
    const sources: Sources = {
      fits: new Map(
        transforms.map((transform) => [
          transform,
          fitAdditive(history, firstDay, { ...options, horizon, transform }),
        ]),
      ),
      weekday_mean: weekdayMean(history, horizon),
      seasonal_naive: seasonalNaive(history, horizon),
    };
    const candidates = new Map<string, { latent: Latent; error: number; scores: [number, number][] }>();
    for (const c of pool) {
      const latent = candidateLatent(c, sources)!;
      let error = 0;
      const scores: [number, number][] = [];
      for (let h = 0; h < horizon; h++) {
        const actual = values[origin + h];
        error += symmetricError(actual, pointOf(latent, h));
        const score = intervalScores(latent, h, actual);
        if (score) scores.push(score);
      }
      candidates.set(c.name, { latent, error, scores });
    }
    return { origin, sources, candidates };
  });
  const calibrationRuns = (day: number) =>
    runs.filter((r) => r.origin + horizon <= day).slice(-calibrationOrigins);
  /** Of `from`, the candidate with the lowest sMAPE on the calibration origins before `day` (the first on a tie or without any). */
  const chooseBefore = (day: number, from: readonly Candidate[], margin: number) => {
    const before = calibrationRuns(day);
    const error = (c: Candidate) => before.reduce((sum, r) => sum + r.candidates.get(c.name)!.error, 0);
    // Another candidate replaces the first only when its error is below (1 − switchMargin) of the first's.
    const first = error(from[0]);
    const chosen = from.reduce((best, c) =>
      error(c) < error(best) - 1e-12 && error(c) < (1 - margin) * first ? c : best,
    );
    return {
      candidate: chosen,
      scale: conformalScale(before.flatMap((r) => r.candidates.get(chosen.name)!.scores)),
    };
  };
  const additive = new MetricsAccumulator();
  const uncalibrated = new MetricsAccumulator();
  const served = new MetricsAccumulator();
  const naive = new MetricsAccumulator();
  const mean = new MetricsAccumulator();
  const scored = runs.slice(-wanted);
  const forecasts: NonNullable<Backtest['forecasts']> = [];
  const originCandidates: string[] = [];
  for (const { origin, sources, candidates } of scored) {
    const model = chooseBefore(origin, modelPool, 0);
    const serve = chooseBefore(origin, servePool, switchMargin);
    originCandidates.push(serve.candidate.name);
    const modelLatent = candidates.get(model.candidate.name)!.latent;
    const entry = {
      origin,
      additive: intervalsOf(modelLatent, model.scale),
      served: intervalsOf(candidates.get(serve.candidate.name)!.latent, serve.scale),
      seasonal_naive: sources.seasonal_naive,
      weekday_mean: sources.weekday_mean,
    };
    const raw = intervalsOf(modelLatent, UNCALIBRATED);
    for (let h = 0; h < horizon; h++) {
      const actual = values[origin + h];
      additive.add(actual, entry.additive, h);
      uncalibrated.add(actual, raw, h);
      served.add(actual, entry.served, h);
      naive.add(actual, entry.seasonal_naive, h);
      mean.add(actual, entry.weekday_mean, h);
    }
    if (options.keepForecasts) forecasts.push(entry);
  }
  const rawMetrics = uncalibrated.result();
  const final = chooseBefore(n, servePool, switchMargin);
  const lastRuns = calibrationRuns(n);
  const candidateSmape = Object.fromEntries(
    servePool.map((c) => [
      c.name,
      lastRuns.length
        ? (100 * lastRuns.reduce((sum, r) => sum + r.candidates.get(c.name)!.error, 0)) /
          (lastRuns.length * horizon)
        : NaN,
    ]),
  );
  return {
    origins: scored.length,
    horizon,
    points: scored.length * horizon,
    additive: additive.result(),
    additiveUncalibrated: { coverage80: rawMetrics.coverage80, coverage95: rawMetrics.coverage95 },
    seasonal_naive: naive.result(),
    weekday_mean: mean.result(),
    served: served.result(),
    originCandidates,
    candidate: final.candidate,
    candidateSmape,
    defaultCandidate: servePool[0].name,
    intervalScale: final.scale,
    transform: chooseBefore(n, modelPool, 0).candidate.transform,
    ...(options.keepForecasts ? { forecasts } : {}),
  };
}

/** The fit's description without its forecast. */
function describeFit(fit: AdditiveFit): ServedForecast['model'] {
  const model: Partial<AdditiveFit> = { ...fit };
  for (const key of ['point', 'lower80', 'upper80', 'lower95', 'upper95', 'latent'] as const)
    delete model[key];
  return model as ServedForecast['model'];
}

export interface ServedForecast extends Forecast {
  method: ForecastMethod;
  backtest: Backtest;
  /** The candidate served (`backtest.candidate`): the model on one transform, a combination, or a baseline. */
  candidate: Candidate;
  /** The additive fit's description (transform, yearly term, closed days, holidays, notes). */
  model: Omit<AdditiveFit, keyof Forecast | 'latent'>;
  /** Why the series is served by a baseline or a combination, when it is. */
  reason?: string;
}

const describeWeights = (c: Candidate) =>
  Object.entries(c.weights)
    .map(([source, w]) => `${source} ${Math.round(100 * w!)}%`)
    .join(' + ');

/**
 * The forecast a series is served with: the backtest's `candidate` (the one with the lowest sMAPE on
 * its last origins: the model on one transform, a combination, or a baseline) fitted on the whole
 * history, its intervals scaled by the backtest's conformal factors. A baseline alone serves as
 * `method` that baseline, anything with the model in it as `additive`; the reason says which and
 * why. Without any backtest origin (under five weeks of history) the model is served and the reason
 * says it is untested.
 */
export function forecastSeries(
  values: Float64Array,
  firstDay: number,
  options: ForecastOptions & { candidates?: readonly Candidate[]; switchMargin?: number },
): ServedForecast {
  const tested = backtest(values, firstDay, { ...options, horizon: 7 });
  const chosen = tested.candidate;
  const transforms = new Set<Transform>([tested.transform, ...transformsOf(chosen)]);
  const sources: Sources = {
    fits: new Map(
      [...transforms].map((t) => [t, fitAdditive(values, firstDay, { ...options, transform: t })]),
    ),
    weekday_mean: weekdayMean(values, options.horizon),
    seasonal_naive: seasonalNaive(values, options.horizon),
  };
  const fit = sources.fits.get(tested.transform)!;
  const scale = tested.intervalScale;
  if (scale.points === 0)
    fit.notes.push(
      `intervals not calibrated: under ${MIN_CALIBRATION_POINTS} open days in the backtest to calibrate them on`,
    );
  const { point, lower80, upper80, lower95, upper95 } = intervalsOf(candidateLatent(chosen, sources)!, scale);
  const model = describeFit(fit);
  const baseline = baselineAlone(chosen);
  const last = Math.min(tested.origins, 8);
  const smapeOn = (name: string) => `${tested.candidateSmape[name].toFixed(1)}%`;
  const reason =
    tested.origins === 0
      ? 'too short a history for a backtest: the model is served untested'
      : chosen.name === tested.defaultCandidate
        ? undefined
        : `${baseline ?? `${describeWeights(chosen)} (${chosen.transform} units)`} had sMAPE ${smapeOn(chosen.name)} on the last ${last} backtest origins against the model's ${smapeOn(tested.defaultCandidate)} (another candidate serves when it is ${Math.round(100 * (options.switchMargin ?? SWITCH_MARGIN))}% below the model)`;
  return {
    point,
    lower80,
    upper80,
    lower95,
    upper95,
    method: baseline ?? 'additive',
    backtest: tested,
    candidate: chosen,
    model,
    ...(reason ? { reason } : {}),
  };
}
