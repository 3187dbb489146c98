import { useTensorFlow } from '../../ml/backend';
import { loadConfig } from '../../lib/config';
import {
  backtest,
  backtestOrigins,
  conformalScale,
  fitAdditive,
  forecastSeries,
  intervalScores,
  intervalsOf,
  learnClosedWeekdays,
  seasonalNaive,
  weekdayMean,
  type Forecast,
} from '../../ml/forecast';
import {
  easterSunday,
  formatDay,
  holidayCalendar,
  holidayCountry,
  isoWeekday,
  parseCustomHolidays,
  parseDay,
} from '../../ml/holidays';
import { SeededRandom } from '../../ml/random';
import { testBackendChoice } from '../helpers/ml-backend';

beforeAll(async () => {
  await useTensorFlow(testBackendChoice());
});

/** A planted series: `value(dayNumber, index)` plus Gaussian noise of `noise`, for `days` days from `start`. */
function planted(
  start: string,
  days: number,
  noise: number,
  seed: number,
  value: (day: number, i: number) => number,
) {
  const random = new SeededRandom(seed);
  const firstDay = parseDay(start);
  const truth = Float64Array.from({ length: days }, (_, i) => value(firstDay + i, i));
  const values = Float64Array.from(truth, (v) => v + noise * random.normal());
  return { firstDay, truth, values };
}

const WEEKLY = [0, 10, 20, 15, 30, 50, -25]; // ISO Monday..Sunday, added to the level
const weekly = (day: number) => WEEKLY[isoWeekday(day) - 1];
const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
const maeOf = (f: Forecast, actual: Float64Array) =>
  mean(Array.from(actual, (y, h) => Math.abs(y - f.point[h])));

function expectOrdered(f: Forecast) {
  for (let h = 0; h < f.point.length; h++) {
    expect(f.lower95[h]).toBeLessThanOrEqual(f.lower80[h]);
    expect(f.lower80[h]).toBeLessThanOrEqual(f.point[h]);
    expect(f.point[h]).toBeLessThanOrEqual(f.upper80[h]);
    expect(f.upper80[h]).toBeLessThanOrEqual(f.upper95[h]);
  }
}

describe('holiday calendar', () => {
  it('computes Easter and each country’s holidays by rule', () => {
    expect([2024, 2025, 2026, 2027].map((y) => formatDay(easterSunday(y)))).toEqual([
      '2024-03-31',
      '2025-04-20',
      '2026-04-05',
      '2027-03-28',
    ]);
    const of = (country: string, year: number) =>
      holidayCalendar(holidayCountry(country), parseDay(`${year}-01-01`), parseDay(`${year}-12-31`)).map(
        (h) => `${formatDay(h.day)} ${h.name}`,
      );
    expect(of('GB', 2026)).toEqual([
      "2026-01-01 New Year's Day",
      '2026-04-03 Good Friday',
      '2026-04-06 Easter Monday',
      '2026-05-04 Early May bank holiday',
      '2026-05-25 Spring bank holiday',
      '2026-08-31 Summer bank holiday',
      '2026-12-25 Christmas Day',
      '2026-12-28 Boxing Day', // the 26th is a Saturday
    ]);
    // 2021: Christmas on a Saturday, both moved to Monday 27 and Tuesday 28.
    expect(of('GB', 2021).slice(-2)).toEqual(['2021-12-27 Christmas Day', '2021-12-28 Boxing Day']);
    expect(of('US', 2026)).toContain('2026-11-26 Thanksgiving Day');
    expect(of('US', 2026)).toContain('2026-07-03 Independence Day'); // the 4th is a Saturday
    expect(of('DE', 2026)).toContain('2026-05-25 Pfingstmontag');
    expect(of('DE', 2026)).toContain('2026-05-14 Christi Himmelfahrt');
    expect(of('FR', 2026)).toContain('2026-07-14 Fête nationale');
    expect(of('FR', 2026)).toHaveLength(11);
    expect(() => holidayCountry('XX')).toThrow(
      '"XX" has no built-in holiday table: use one of GB, DE, US, FR or none',
    );
    expect(holidayCountry('none')).toBeNull();
  });
});

describe('the additive forecast', () => {
  it('recovers a planted trend change and the weekly cycle', () => {
    // Rising 0.5 a day for 220 days, then falling 0.3 a day: the forecast must follow the fall.
    const trend = (i: number) => (i < 220 ? 100 + 0.5 * i : 210 - 0.3 * (i - 220));
    const all = planted('2024-01-01', 330 + 30, 3, 1, (day, i) => trend(i) + weekly(day));
    const history = all.values.subarray(0, 330);
    const fit = fitAdditive(history, all.firstDay, { horizon: 30, transform: 'none' });
    expect(fit.finalSlopePerDay).toBeCloseTo(-0.3, 1);
    const meanEffect = mean(WEEKLY);
    fit.weekdayEffects.forEach((effect, d) => expect(effect).toBeCloseTo(WEEKLY[d] - meanEffect, -0.5));
    const mae = maeOf(fit, all.truth.subarray(330));
    expect(mae).toBeLessThan(4);
    expectOrdered(fit);
  });

  it('learns a yearly cycle with two years of data or more, and says so when there is less', () => {
    const yearly = (day: number) => 40 * Math.sin((2 * Math.PI * (day - parseDay('2023-04-01'))) / 365.25);
    const all = planted('2023-01-01', 3 * 365 + 60, 4, 2, (day) => 200 + yearly(day) + weekly(day));
    const n = 3 * 365;
    const fit = fitAdditive(all.values.subarray(0, n), all.firstDay, { horizon: 60, transform: 'none' });
    expect(fit.yearly).toBe(true);
    expect(fit.notes).toEqual([]);
    expect(maeOf(fit, all.truth.subarray(n))).toBeLessThan(5);
    const short = fitAdditive(all.values.subarray(0, 200), all.firstDay, { horizon: 7, transform: 'none' });
    expect(short.yearly).toBe(false);
    expect(short.notes).toContain(
      'no yearly seasonality: 200 days of history, under the 730 (two yearly cycles) it needs',
    );
    const oneCycle = fitAdditive(all.values.subarray(0, 500), all.firstDay, {
      horizon: 7,
      transform: 'none',
    });
    expect(oneCycle.yearly).toBe(false);
    expect(fitAdditive(all.values.subarray(0, 730), all.firstDay, { horizon: 7 }).yearly).toBe(true);
  });

  it('learns a holiday’s effect from the calendar and forecasts it', () => {
    const holidays = holidayCalendar(holidayCountry('GB'), parseDay('2022-01-01'), parseDay('2025-12-31'));
    const christmas = new Set(holidays.filter((h) => h.name === 'Christmas Day').map((h) => h.day));
    // Dec 2024's Christmas Day is the 25th (a Wednesday): the shop sells 80 more on it.
    const all = planted('2022-06-01', 1000, 3, 3, (day) => 150 + weekly(day) + (christmas.has(day) ? 80 : 0));
    const christmas2024 = parseDay('2024-12-25') - all.firstDay;
    const origin = christmas2024 - 10;
    const fit = fitAdditive(all.values.subarray(0, origin), all.firstDay, {
      horizon: 20,
      holidays,
      transform: 'none',
    });
    expect(fit.holidays).toContain('Christmas Day');
    expect(fit.holidayEffects['Christmas Day']).toBeGreaterThan(60);
    expect(fit.holidayEffects['Christmas Day']).toBeLessThan(100);
    const h = christmas2024 - origin;
    expect(Math.abs(fit.point[h] - all.truth[christmas2024])).toBeLessThan(15);
    expect(fit.point[h] - fit.point[h - 7]).toBeGreaterThan(60); // the Wednesday before
  });

  it('forecasts closed Sundays as 0, not as an average day', () => {
    const all = planted('2025-01-06', 200 + 14, 3, 4, (day) =>
      isoWeekday(day) === 7 ? 0 : 120 + weekly(day),
    );
    for (let i = 0; i < all.values.length; i++) if (isoWeekday(all.firstDay + i) === 7) all.values[i] = 0;
    const history = all.values.subarray(0, 200);
    expect(learnClosedWeekdays(history, all.firstDay, 4)).toEqual([7]);
    const fit = fitAdditive(history, all.firstDay, { horizon: 14 });
    expect(fit.closedWeekdays).toEqual([7]);
    for (let h = 0; h < 14; h++) {
      const sunday = isoWeekday(all.firstDay + 200 + h) === 7;
      if (sunday) expect([fit.point[h], fit.lower95[h], fit.upper95[h]]).toEqual([0, 0, 0]);
      else expect(Math.abs(fit.point[h] - all.truth[200 + h])).toBeLessThan(12);
    }
  });

  it('leaves the days the shop was closed out of the fit, but keeps closed holidays as holidays', () => {
    const holidays = holidayCalendar(holidayCountry('GB'), parseDay('2024-01-01'), parseDay('2025-12-31'));
    const christmas = new Set(holidays.filter((h) => h.name.startsWith('Christmas')).map((h) => h.day));
    const all = planted('2024-06-03', 300, 3, 5, (day) => (christmas.has(day) ? 0 : 100 + weekly(day)));
    // Closed from 20 to 31 December: zeros on open weekdays, Christmas Day among them.
    const closedFrom = parseDay('2024-12-20') - all.firstDay;
    const skipDays: number[] = [];
    for (let i = closedFrom; i < closedFrom + 12; i++) {
      all.values[i] = 0;
      skipDays.push(all.firstDay + i);
    }
    const options = { horizon: 14, holidays, transform: 'log1p' as const };
    const skipping = fitAdditive(all.values.subarray(0, 250), all.firstDay, { ...options, skipDays });
    const notSkipping = fitAdditive(all.values.subarray(0, 250), all.firstDay, options);
    const truth = all.truth.subarray(250, 264);
    expect(maeOf(skipping, truth)).toBeLessThan(4);
    expect(maeOf(skipping, truth)).toBeLessThan(maeOf(notSkipping, truth));
    expect(skipping.holidayEffects['Christmas Day']).toBeLessThan(-2); // log scale: about log1p(0) − log1p(100)
  });

  it('has intervals that cover about as often as they claim, wider further ahead', () => {
    let in80 = 0;
    let in95 = 0;
    let count = 0;
    let widthFirstWeek = 0;
    let widthLastWeek = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const all = planted('2024-03-01', 400 + 28, 10, 100 + seed, (day, i) => 300 + 0.2 * i + weekly(day));
      const fit = fitAdditive(all.values.subarray(0, 400), all.firstDay, {
        horizon: 28,
        transform: 'none',
        seed,
      });
      for (let h = 0; h < 28; h++) {
        const y = all.values[400 + h];
        if (y >= fit.lower80[h] && y <= fit.upper80[h]) in80++;
        if (y >= fit.lower95[h] && y <= fit.upper95[h]) in95++;
        count++;
        if (h < 7) widthFirstWeek += fit.upper95[h] - fit.lower95[h];
        if (h >= 21) widthLastWeek += fit.upper95[h] - fit.lower95[h];
      }
    }
    expect(in80 / count).toBeGreaterThan(0.72);
    expect(in80 / count).toBeLessThan(0.88);
    expect(in95 / count).toBeGreaterThan(0.9);
    expect(in95 / count).toBeLessThan(0.99);
    expect(widthLastWeek).toBeGreaterThan(widthFirstWeek);
  });

  it('fails clearly on a bad series', () => {
    expect(() => fitAdditive(new Float64Array(10), 0, { horizon: 7 })).toThrow(
      'the additive model needs at least 28 days of history, not 10',
    );
    const bad = new Float64Array(60).fill(1);
    bad[5] = NaN;
    expect(() => fitAdditive(bad, 0, { horizon: 7 })).toThrow(
      'day 5 of the series is not a finite number (NaN)',
    );
    expect(() => fitAdditive(new Float64Array(60), 0, { horizon: 0 })).toThrow(
      'the horizon must be a whole number',
    );
  });
});

describe('baselines and the backtest', () => {
  it('computes the two baselines as defined', () => {
    const values = Float64Array.from({ length: 35 }, (_, i) => i);
    expect(Array.from(seasonalNaive(values, 9).point)).toEqual([28, 29, 30, 31, 32, 33, 34, 28, 29]);
    // Day 35 is the mean of days 28, 21, 14 and 7.
    expect(Array.from(weekdayMean(values, 2).point)).toEqual([17.5, 18.5]);
  });

  it('scores the model against both baselines on a rolling origin and serves the model when it wins', () => {
    const all = planted('2024-01-01', 340, 8, 7, (day, i) => 200 + 0.3 * i + weekly(day));
    const tested = backtest(all.values, all.firstDay, {});
    expect(tested).toMatchObject({ origins: 8, horizon: 7, points: 56 });
    expect(tested.additive.smape).toBeLessThan(tested.seasonal_naive.smape);
    expect(tested.additive.smape).toBeLessThan(tested.weekday_mean.smape);
    expect(tested.additive.coverage95).toBeGreaterThan(0.85);
    const served = forecastSeries(all.values, all.firstDay, { horizon: 30 });
    expect(served.method).toBe('additive');
    expect(served.reason).toBeUndefined();
    expect(served.point).toHaveLength(30);
    expectOrdered(served);
  });

  it('serves a series by the baseline that beat the model, and says so', () => {
    // Each weekday wanders on its own random walk: last week's same weekday is the best guess.
    const random = new SeededRandom(9);
    const levels = [100, 300, 50, 400, 200, 150, 250];
    const values = Float64Array.from({ length: 300 }, (_, i) => {
      levels[i % 7] = Math.max(0, levels[i % 7] + 40 * random.normal());
      return levels[i % 7];
    });
    const served = forecastSeries(values, parseDay('2024-01-01'), { horizon: 7 });
    expect(served.backtest.seasonal_naive.smape).toBeLessThan(served.backtest.additive.smape);
    expect(served.method).toBe('seasonal_naive');
    expect(served.candidate.name).toBe('seasonal_naive');
    expect(served.reason).toMatch(
      /^seasonal_naive had sMAPE \d+\.\d% on the last 8 backtest origins against the model's \d+\.\d% \(another candidate serves when it is 20% below the model\)$/,
    );
    expect(Array.from(served.point)).toEqual(Array.from(values.subarray(293)));
  });
});

describe('the served forecast: a combination of the model’s fits, or a baseline', () => {
  it('holds the trend at its last value in the flat point, and extrapolates it in the point', () => {
    const all = planted('2024-01-01', 300, 3, 51, (day, i) => 100 + 0.5 * i + weekly(day));
    const fit = fitAdditive(all.values, all.firstDay, { horizon: 21, transform: 'none' });
    const { point, flatPoint } = fit.latent;
    for (let h = 0; h < 14; h++) {
      expect(point[h + 7] - point[h]).toBeCloseTo(7 * fit.finalSlopePerDay, 6);
      expect(flatPoint![h + 7] - flatPoint![h]).toBeCloseTo(0, 6);
    }
    // One day ahead the two differ by one day of the trend.
    expect(point[0] - flatPoint![0]).toBeCloseTo(fit.finalSlopePerDay, 6);
  });

  it('serves the mean, in log1p units, of the model on log1p and as it is, each half with its trend held flat', () => {
    const all = planted('2024-01-01', 300, 8, 53, (day, i) => 200 + 0.3 * i + weekly(day));
    const served = forecastSeries(all.values, all.firstDay, { horizon: 14 });
    expect(served.method).toBe('additive');
    expect(served.candidate.weights).toEqual({ log1p: 0.25, none: 0.25, log1p_flat: 0.25, none_flat: 0.25 });
    expect(served.candidate.name).toBe(served.backtest.defaultCandidate);
    expect(served.reason).toBeUndefined();
    const log1p = fitAdditive(all.values, all.firstDay, { horizon: 14, transform: 'log1p' }).latent;
    const none = fitAdditive(all.values, all.firstDay, { horizon: 14, transform: 'none' }).latent;
    for (let h = 0; h < 14; h++) {
      const z =
        (log1p.point[h] + log1p.flatPoint![h] + Math.log1p(none.point[h]) + Math.log1p(none.flatPoint![h])) /
        4;
      expect(served.point[h]).toBeCloseTo(Math.expm1(z), 6);
    }
    expectOrdered(served);
    expect(served.backtest.served.smape).toBeLessThan(served.backtest.seasonal_naive.smape);
  });

  it('chooses each scored origin’s candidate and intervals from the days before it only', () => {
    const all = planted('2024-01-01', 300, 8, 45, (day) => 200 + weekly(day));
    const changed = Float64Array.from(all.values);
    for (let i = 293; i < 300; i++) changed[i] *= 3; // the last scored origin's week
    const a = backtest(all.values, all.firstDay, { keepForecasts: true });
    const b = backtest(changed, all.firstDay, { keepForecasts: true });
    expect(a.originCandidates).toHaveLength(8);
    expect(b.originCandidates).toEqual(a.originCandidates);
    for (let k = 0; k < 8; k++)
      for (const key of ['point', 'lower80', 'upper95'] as const)
        expect(Array.from(b.forecasts![k].served[key])).toEqual(Array.from(a.forecasts![k].served[key]));
    expect(b.served.smape).toBeGreaterThan(a.served.smape);
  });

  it('keeps the combination unless a baseline is better by the margin, and serves the sources it can fit', () => {
    const all = planted('2024-01-01', 300, 8, 55, (day) => 200 + weekly(day));
    const pool = [
      { name: 'model', transform: 'none' as const, weights: { none: 1 } },
      { name: 'weekday_mean', transform: 'none' as const, weights: { weekday_mean: 1 } },
    ];
    const always = backtest(all.values, all.firstDay, {
      candidates: pool,
      switchMargin: 1,
      transform: 'none',
    });
    expect(new Set(always.originCandidates)).toEqual(new Set(['model']));
    expect(always.served.smape).toBeCloseTo(always.additive.smape, 9);
    // A day of refunds: log1p cannot be fitted, the combination is made of the series as it is.
    const refunds = Float64Array.from(all.values);
    refunds[40] = -50;
    const served = forecastSeries(refunds, all.firstDay, { horizon: 7 });
    expect(served.model.transform).toBe('none');
    if (served.method === 'additive') expect(served.candidate.weights).toEqual({ none: 0.5, none_flat: 0.5 });
  });
});

describe('the transform, chosen by the backtest', () => {
  /** sMAPE of the points over the last 8 origins' 7 days, for one fixed transform (calibration aside). */
  const lastOriginsSmape = (values: Float64Array, firstDay: number, transform: 'log1p' | 'none') =>
    backtest(values, firstDay, { transform }).additive.smape;

  const firstDay = parseDay('2024-01-01');
  const series = {
    // A steady total: an additive week and Gaussian noise around a slow trend.
    steady: (random: SeededRandom) =>
      Float64Array.from(
        { length: 200 },
        (_, i) => 400 + 0.2 * i + 3 * weekly(firstDay + i) + 25 * random.normal(),
      ),
    // A growing shop: its week and its noise scale with its level.
    growing: (random: SeededRandom) =>
      Float64Array.from({ length: 200 }, (_, i) =>
        Math.exp(3 + 0.012 * i + weekly(firstDay + i) / 40 + 0.3 * random.normal()),
      ),
  };

  it.each([
    ['steady', 'none'],
    ['growing', 'log1p'],
  ] as const)(
    'serves a %s series on %s: the transform whose points had the lower sMAPE on the last 8 origins',
    (name, expected) => {
      const values = series[name](new SeededRandom(9));
      const log1p = lastOriginsSmape(values, firstDay, 'log1p');
      const none = lastOriginsSmape(values, firstDay, 'none');
      const chosen = backtest(values, firstDay, {}).transform;
      expect(chosen).toBe(none < log1p ? 'none' : 'log1p');
      expect(chosen).toBe(expected);
      expect(forecastSeries(values, firstDay, { horizon: 7 }).model.transform).toBe(chosen);
    },
  );

  it('keeps the series as it is when a day is negative, and honours a fixed transform', () => {
    const all = planted('2024-01-01', 200, 8, 11, (day, i) => 50 + 0.1 * i + weekly(day));
    all.values[20] = -30; // a day of refunds
    expect(backtest(all.values, all.firstDay, {}).transform).toBe('none');
    const positive = planted('2024-01-01', 200, 8, 11, (day) => 200 + weekly(day));
    expect(backtest(positive.values, positive.firstDay, { transform: 'log1p' }).transform).toBe('log1p');
    expect(backtest(positive.values, positive.firstDay, { transform: 'none' }).transform).toBe('none');
  });
});

describe('calibrated intervals', () => {
  it('scores an actual day by the smallest factor that puts it inside, and scales the intervals by it', () => {
    const all = planted('2024-01-01', 200, 10, 21, (day) => 300 + weekly(day));
    const fit = fitAdditive(all.values.subarray(0, 180), all.firstDay, { horizon: 20, transform: 'log1p' });
    for (let h = 0; h < 20; h++) {
      const actual = all.values[180 + h];
      const [r80, r95] = intervalScores(fit.latent, h, actual)!;
      const inside = (f: Forecast, lower: 'lower80' | 'lower95', upper: 'upper80' | 'upper95') =>
        actual >= f[lower][h] - 1e-9 && actual <= f[upper][h] + 1e-9;
      const at = (c80: number, c95: number) => intervalsOf(fit.latent, { c80, c95, points: 56 });
      expect(inside(at(r80 * 1.001, 1), 'lower80', 'upper80')).toBe(true);
      expect(inside(at(r80 * 0.999, 1), 'lower80', 'upper80')).toBe(r80 === 0);
      expect(inside(at(1, r95 * 1.001), 'lower95', 'upper95')).toBe(true);
    }
    // The uncalibrated factors give the simulated intervals back.
    expect(Array.from(intervalsOf(fit.latent, { c80: 1, c95: 1, points: 0 }).upper80)).toEqual(
      Array.from(fit.upper80),
    );
  });

  it('takes the conformal quantile of past scores, and leaves too few of them uncalibrated', () => {
    const scores = Array.from({ length: 99 }, (_, i): [number, number] => [(i + 1) / 100, (i + 1) / 50]);
    // ⌈100 × 0.8⌉ = 80th and ⌈100 × 0.95⌉ = 95th smallest of 99.
    expect(conformalScale(scores)).toEqual({ c80: 0.8, c95: 1.9, points: 99 });
    expect(conformalScale(scores.slice(0, 19))).toEqual({ c80: 1, c95: 1, points: 0 });
  });

  it('covers about 80% and 95% of held-out days on series with known noise, also where the simulated intervals under-cover', () => {
    // 12 series of 500 days each: the weekly cycle and Gaussian noise of sd 6 around a level that is
    // constant (steady) or a Gaussian random walk of sd 2 a day (wandering). The wandering level's
    // errors grow with the horizon, which the simulation (residuals resampled, trend changes) misses:
    // its 80% intervals cover about 62%. The calibration on the 8 origins before each scored one must
    // bring both to their claim.
    const tallies = {
      steady: { in80: 0, in95: 0, raw80: 0, served80: 0, served95: 0, n: 0 },
      wandering: { in80: 0, in95: 0, raw80: 0, served80: 0, served95: 0, n: 0 },
    };
    for (let seed = 1; seed <= 12; seed++)
      for (const [name, walk] of [
        ['steady', 0],
        ['wandering', 2],
      ] as const) {
        const random = new SeededRandom(500 + seed);
        const firstDay = parseDay('2024-01-01');
        let level = 400;
        const values = Float64Array.from({ length: 500 }, (_, i) => {
          level += walk * random.normal();
          return level + weekly(firstDay + i) + 6 * random.normal();
        });
        const tested = backtest(values, firstDay, { seed, transform: 'none' });
        expect(tested.origins).toBe(8);
        const tally = tallies[name];
        tally.in80 += tested.additive.coverage80 * tested.points;
        tally.in95 += tested.additive.coverage95 * tested.points;
        tally.raw80 += tested.additiveUncalibrated.coverage80 * tested.points;
        tally.served80 += tested.served.coverage80 * tested.points;
        tally.served95 += tested.served.coverage95 * tested.points;
        tally.n += tested.points;
      }
    for (const tally of Object.values(tallies)) {
      expect(tally.in80 / tally.n).toBeGreaterThan(0.75);
      expect(tally.in80 / tally.n).toBeLessThan(0.86);
      expect(tally.in95 / tally.n).toBeGreaterThan(0.92);
      expect(tally.in95 / tally.n).toBeLessThan(0.985);
      // The served forecast (the combination, or a baseline) is calibrated on its own past scores.
      expect(tally.served80 / tally.n).toBeGreaterThan(0.75);
      expect(tally.served80 / tally.n).toBeLessThan(0.86);
      expect(tally.served95 / tally.n).toBeGreaterThan(0.92);
      expect(tally.served95 / tally.n).toBeLessThan(0.985);
    }
    expect(tallies.wandering.raw80 / tallies.wandering.n).toBeLessThan(0.7);
  });

  it('calibrates each scored origin on origins whose days are all before it', () => {
    expect(backtestOrigins(100, 7, 4)).toEqual([72, 79, 86, 93]);
    expect(backtestOrigins(60, 30, 3)).toEqual([30]); // 23 and 16 have under 28 days of history
    const all = planted('2024-01-01', 300, 8, 31, (day) => 200 + weekly(day));
    const tested = backtest(all.values, all.firstDay, { horizon: 30, keepForecasts: true });
    expect(tested.forecasts!.map((f) => f.origin)).toEqual(backtestOrigins(300, 30, 8));
    // The served factors come from the last 8 origins whose 30 days are known: 8 × 30 scores.
    expect(tested.intervalScale.points).toBe(240);
  });
});

describe('custom holidays', () => {
  it('parses the shop’s own dates and ranges, and fails clearly on bad ones', () => {
    const days = parseCustomHolidays(
      'Black Friday=2025-11-28, 2024-11-29; Summer sale=2025-07-01..2025-07-03\n# closed\nStocktake=2025-01-02',
    );
    expect(days.map((h) => `${formatDay(h.day)} ${h.name}`)).toEqual([
      '2024-11-29 Black Friday',
      '2025-01-02 Stocktake',
      '2025-07-01 Summer sale',
      '2025-07-02 Summer sale',
      '2025-07-03 Summer sale',
      '2025-11-28 Black Friday',
    ]);
    expect(parseCustomHolidays('')).toEqual([]);
    expect(() => parseCustomHolidays('Sale 2025-07-01')).toThrow('"Sale 2025-07-01" is not Name=YYYY-MM-DD');
    expect(() => parseCustomHolidays('Sale=2025-02-30')).toThrow(
      '"2025-02-30" is not a calendar date YYYY-MM-DD',
    );
    expect(() => parseCustomHolidays('Sale=2025-07-03..2025-07-01')).toThrow('ends before it starts');
    expect(() => parseCustomHolidays('Sale=2025-07-01;Sale=2025-08-01')).toThrow('named twice');
    expect(() => loadConfig({ CARTFLOW_FORECAST_HOLIDAYS: 'Sale=tomorrow' })).toThrow(
      /CARTFLOW_FORECAST_HOLIDAYS is not a list of the shop's dates: "tomorrow" is not a calendar date/,
    );
  });

  it('learns a planted custom holiday from the configuration, added to or instead of the country’s', () => {
    // The shop's own three-day sale, four times a year at irregular dates: +70 a day on its days.
    const sale =
      '2023-03-08..2023-03-10, 2023-06-21..2023-06-23, 2023-09-13..2023-09-15, 2023-11-22..2023-11-24,' +
      '2024-03-06..2024-03-08, 2024-06-19..2024-06-21, 2024-09-18..2024-09-20, 2024-11-27..2024-11-29, 2025-03-12..2025-03-14';
    const config = loadConfig({
      CARTFLOW_FORECAST_HOLIDAYS: `Spring and autumn sale=${sale}`,
      CARTFLOW_FORECAST_COUNTRY: 'GB',
    });
    const custom = config.models.forecast.customHolidays;
    expect(custom).toHaveLength(27);
    const saleDays = new Set(custom.map((h) => h.day));
    const all = planted('2023-01-02', 830, 4, 41, (day) => 200 + weekly(day) + (saleDays.has(day) ? 70 : 0));
    const origin = parseDay('2025-03-05') - all.firstDay; // a week before the 2025 sale
    const calendar = holidayCalendar(
      config.models.forecast.country,
      all.firstDay,
      all.firstDay + origin + 14,
      custom,
    );
    expect(calendar.some((h) => h.name === 'Christmas Day')).toBe(true);
    const fit = fitAdditive(all.values.subarray(0, origin), all.firstDay, {
      horizon: 14,
      holidays: calendar,
      transform: 'none',
    });
    expect(fit.holidayEffects['Spring and autumn sale']).toBeGreaterThan(60);
    expect(fit.holidayEffects['Spring and autumn sale']).toBeLessThan(80);
    const saleDay = parseDay('2025-03-12') - all.firstDay - origin; // a Wednesday
    expect(Math.abs(fit.point[saleDay] - all.truth[origin + saleDay])).toBeLessThan(12);
    expect(fit.point[saleDay] - fit.point[saleDay - 7]).toBeGreaterThan(55);
    // Without the custom dates the sale is not forecast.
    const without = fitAdditive(all.values.subarray(0, origin), all.firstDay, {
      horizon: 14,
      holidays: holidayCalendar('GB', all.firstDay, all.firstDay + origin + 14),
      transform: 'none',
    });
    expect(without.point[saleDay] - without.point[saleDay - 7]).toBeLessThan(20);
    // CARTFLOW_FORECAST_COUNTRY=none: the shop's dates replace the public holidays.
    const replacing = loadConfig({
      CARTFLOW_FORECAST_HOLIDAYS: `Sale=${sale}`,
      CARTFLOW_FORECAST_COUNTRY: 'none',
    });
    const only = holidayCalendar(
      replacing.models.forecast.country,
      all.firstDay,
      all.firstDay + 900,
      replacing.models.forecast.customHolidays,
    );
    expect(new Set(only.map((h) => h.name))).toEqual(new Set(['Sale']));
  });
});
