import fs from 'node:fs';
import path from 'node:path';
import {
  bgNbdExpectedPurchases,
  bgNbdLogLikelihood,
  bgNbdProbabilityAlive,
  customerLifetimeValue,
  fitBgNbd,
  fitGammaGamma,
  gammaGammaExpectedSpend,
  gammaGammaLogLikelihood,
  simulateBgNbd,
  simulateGammaGamma,
  unitsPerMonth,
  type BgNbdParams,
  type GammaGammaParams,
  type RepeatSummary,
} from '../../ml/clv';
import { cdnowDatasets } from '../helpers/cdnow';

/** Fader, Hardie & Lee (2005), table 1, and Fader & Hardie (2013), on CDNOW's calibration period in weeks. */
const PUBLISHED_BG_NBD: BgNbdParams = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
const PUBLISHED_GAMMA_GAMMA: GammaGammaParams = { p: 6.25, q: 3.74, gamma: 15.44 };

/** 99.9% quantiles of χ² with 4 and 3 degrees of freedom: twice the log-likelihood gained by a fit over the truth. */
const CHI2_4_999 = 18.47;
const CHI2_3_999 = 16.27;

/** The parameters whose relative error exceeds its tolerance, with the fitted and the true value: [] when all are within. */
function outside<P extends object>(
  fitted: P,
  truth: P,
  tolerance: number | Record<keyof P, number>,
): string[] {
  return (Object.keys(truth) as Array<keyof P & string>).flatMap((name) => {
    const fit = (fitted as Record<string, number>)[name];
    const want = (truth as Record<string, number>)[name];
    const limit = typeof tolerance === 'number' ? tolerance : tolerance[name];
    const error = Math.abs(fit / want - 1);
    return error < limit
      ? []
      : [`${name}: ${fit} vs ${want}, ${(100 * error).toFixed(2)}% > ${100 * limit}%`];
  });
}

function readCsv(file: string): number[][] {
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',').map(Number));
}

const DAY_MS = 86_400_000;
const dayNumber = (yyyymmdd: string): number =>
  Date.UTC(Number(yyyymmdd.slice(0, 4)), Number(yyyymmdd.slice(4, 6)) - 1, Number(yyyymmdd.slice(6, 8))) /
  DAY_MS;

/**
 * The papers' summary of CDNOW_sample.txt for the calibration period, computed here from the
 * definitions, independently of ml/clv.ts: purchase days up to and including 1997-09-30 (several
 * orders on a day are one occasion, its dollars summed); x = purchase days − 1; t_x = days from the
 * first purchase day to the last / 7; T = days from the first purchase day to 1997-09-30 / 7; the
 * mean spend is the mean of the repeat purchase days' dollars.
 */
function summariseCdnowSample(file: string): RepeatSummary & { meanSpend: Float64Array; ids: number[] } {
  const end = dayNumber('19970930');
  const byCustomer = new Map<number, Map<number, number>>();
  for (const line of fs.readFileSync(file, 'utf8').trim().split('\n')) {
    const [, id, date, , dollars] = line.trim().split(/\s+/);
    const day = dayNumber(date);
    if (day > end) continue;
    const days = byCustomer.get(Number(id)) ?? new Map<number, number>();
    days.set(day, (days.get(day) ?? 0) + Number(dollars));
    byCustomer.set(Number(id), days);
  }
  const ids = [...byCustomer.keys()].sort((a, b) => a - b);
  const summary = ids.map((id) => {
    const days = [...(byCustomer.get(id) as Map<number, number>).entries()].sort((a, b) => a[0] - b[0]);
    const first = days[0][0];
    const repeats = days.slice(1);
    return {
      x: repeats.length,
      tx: (days[days.length - 1][0] - first) / 7,
      T: (end - first) / 7,
      meanSpend: repeats.length ? repeats.reduce((sum, [, dollars]) => sum + dollars, 0) / repeats.length : 0,
    };
  });
  return {
    ids,
    frequency: Float64Array.from(summary, (s) => s.x),
    recency: Float64Array.from(summary, (s) => s.tx),
    T: Float64Array.from(summary, (s) => s.T),
    meanSpend: Float64Array.from(summary, (s) => s.meanSpend),
  };
}

describe('BG/NBD recovers the parameters of data simulated with them', () => {
  // Each tolerance is 4 standard deviations of the fitted parameter's relative error, measured
  // over 20–30 simulations of the same size with other seeds (the relative bias was under a
  // quarter of a standard deviation each time). The fitted log-likelihood must also beat the
  // truth's by no more than chance allows: 2·(ln L(fit) − ln L(truth)) ~ χ²₄ (it was 0.5–7.1).
  const cases: Array<{
    name: string;
    params: BgNbdParams;
    customers: number;
    T: (customers: number) => number | Float64Array;
    tolerance: Record<keyof BgNbdParams, number>;
  }> = [
    {
      // CDNOW's shape: first purchases spread over 12 weeks, observed to week 39. SDs 1.0, 1.6, 4.6, 5.0%.
      name: "CDNOW's parameters, weeks, cohorts arriving over 12 weeks",
      params: PUBLISHED_BG_NBD,
      customers: 50_000,
      T: (n) => Float64Array.from({ length: n }, (_, i) => 27 + (12 * i) / n),
      tolerance: { r: 0.05, alpha: 0.07, a: 0.19, b: 0.2 },
    },
    {
      // A shop of frequent buyers in days, a year observed. SDs 1.1, 1.7, 3.3, 4.7%.
      name: 'frequent buyers, days, one year',
      params: { r: 1.2, alpha: 30, a: 0.5, b: 5 },
      customers: 20_000,
      T: () => 365,
      tolerance: { r: 0.05, alpha: 0.07, a: 0.14, b: 0.19 },
    },
    {
      // Customers who mostly drop out after a purchase or two. SDs 1.3, 2.2, 2.8, 3.6%.
      name: 'high churn, weeks, one year',
      params: { r: 0.5, alpha: 2, a: 2, b: 1.5 },
      customers: 20_000,
      T: () => 52,
      tolerance: { r: 0.06, alpha: 0.09, a: 0.12, b: 0.15 },
    },
  ];

  it.each(cases)('$name', ({ params, customers, T, tolerance }) => {
    const data = simulateBgNbd(params, customers, T(customers), 20_251_201);
    const fit = fitBgNbd(data);
    expect(fit.converged).toBe(true);
    expect(outside(fit.params, params, tolerance)).toEqual([]);
    const gain = 2 * (fit.logLikelihood - bgNbdLogLikelihood(params, data));
    expect(gain).toBeGreaterThanOrEqual(0);
    expect(gain).toBeLessThan(CHI2_4_999);
  });

  it('simulates the same customers for the same seed, and others for another', () => {
    const first = simulateBgNbd(PUBLISHED_BG_NBD, 1_000, 39, 7);
    expect(simulateBgNbd(PUBLISHED_BG_NBD, 1_000, 39, 7)).toEqual(first);
    expect(simulateBgNbd(PUBLISHED_BG_NBD, 1_000, 39, 8).recency).not.toEqual(first.recency);
  });

  it('reports its progress, and starts where it is told', () => {
    const data = simulateBgNbd(PUBLISHED_BG_NBD, 5_000, 39, 11);
    const progress: Array<[number, number]> = [];
    const fit = fitBgNbd(data, { onProgress: (iteration, ll) => progress.push([iteration, ll]) });
    expect(progress.length).toBe(fit.iterations + 1);
    expect(progress.map(([iteration]) => iteration)).toEqual(progress.map((_, i) => i + 1));
    expect(progress[progress.length - 1][1]).toBeCloseTo(fit.logLikelihood, 6);
    const spend = simulateGammaGamma(PUBLISHED_GAMMA_GAMMA, data.frequency, 13);
    const spendProgress: number[] = [];
    const spendFit = fitGammaGamma(data.frequency, spend, { onProgress: (_, ll) => spendProgress.push(ll) });
    expect(spendProgress[spendProgress.length - 1]).toBeCloseTo(spendFit.logLikelihood, 6);
    const fromTheAnswer = fitBgNbd(data, { initial: fit.params });
    expect(fromTheAnswer.iterations).toBeLessThan(fit.iterations);
    expect(fromTheAnswer.logLikelihood).toBeCloseTo(fit.logLikelihood, 4);
  });

  it('is shrunk towards zero by a penalizer', () => {
    const data = simulateBgNbd(PUBLISHED_BG_NBD, 5_000, 39, 12);
    const plain = fitBgNbd(data);
    const penalised = fitBgNbd(data, { penalizer: 0.1 });
    expect(penalised.params.b).toBeLessThan(plain.params.b);
    expect(penalised.logLikelihood).toBeLessThan(plain.logLikelihood);
  });
});

describe('Gamma-Gamma recovers the parameters of data simulated with them', () => {
  it("CDNOW's parameters, 20,000 customers with 1 to 10 repeat purchases", () => {
    // p and γ trade off against each other (their product sets the mean spend): over 20 other
    // seeds their SDs were 7.5% and 7.4%, q's 1.0%; tolerances are 4 SDs, and the mean spend
    // γp/(q − 1), which the data pin down much better, is held to 2%.
    const frequency = Float64Array.from({ length: 20_000 }, (_, i) => 1 + (i % 10));
    const meanSpend = simulateGammaGamma(PUBLISHED_GAMMA_GAMMA, frequency, 31);
    const fit = fitGammaGamma(frequency, meanSpend);
    expect(fit.converged).toBe(true);
    expect(outside(fit.params, PUBLISHED_GAMMA_GAMMA, { p: 0.3, q: 0.04, gamma: 0.3 })).toEqual([]);
    const populationMean = ({ p, q, gamma }: GammaGammaParams) => (gamma * p) / (q - 1);
    expect(Math.abs(populationMean(fit.params) / populationMean(PUBLISHED_GAMMA_GAMMA) - 1)).toBeLessThan(
      0.02,
    );
    const gain =
      2 * (fit.logLikelihood - gammaGammaLogLikelihood(PUBLISHED_GAMMA_GAMMA, frequency, meanSpend));
    expect(gain).toBeGreaterThanOrEqual(0);
    expect(gain).toBeLessThan(CHI2_3_999);
  });
});

describe('the published CDNOW results', () => {
  let datasets: string;
  beforeAll(async () => {
    datasets = await cdnowDatasets();
  });

  it('BG/NBD on the published summary lands within 1% of each published parameter', () => {
    const rows = readCsv(path.join(datasets, 'cdnow_customers_summary.csv'));
    expect(rows).toHaveLength(2_357);
    const fit = fitBgNbd({
      frequency: Float64Array.from(rows, (row) => row[1]),
      recency: Float64Array.from(rows, (row) => row[2]),
      T: Float64Array.from(rows, (row) => row[3]),
    });
    expect(fit.converged).toBe(true);
    expect(outside(fit.params, PUBLISHED_BG_NBD, 0.01)).toEqual([]);
    // The paper's log-likelihood is −9582.4.
    expect(fit.logLikelihood).toBeCloseTo(-9582.4, 0);
  });

  it('Gamma-Gamma on the published summary with mean spends lands within 1% of p, q and γ', () => {
    const rows = readCsv(path.join(datasets, 'cdnow_customers_summary_with_transactions.csv'));
    const fit = fitGammaGamma(
      Float64Array.from(rows, (row) => row[1]),
      Float64Array.from(rows, (row) => row[4]),
    );
    expect(fit.converged).toBe(true);
    expect(outside(fit.params, PUBLISHED_GAMMA_GAMMA, 0.01)).toEqual([]);
  });

  it('the transactions counted as the papers count them give the published summary, and the published parameters', () => {
    const summary = summariseCdnowSample(path.join(datasets, 'CDNOW_sample.txt'));
    const published = readCsv(path.join(datasets, 'cdnow_customers_summary_with_transactions.csv'));
    expect(summary.ids).toEqual(published.map((row) => row[0]));
    // The published file rounds to 2 decimals.
    published.forEach(([, x, tx, T, zbar], i) => {
      expect(summary.frequency[i]).toBe(x);
      expect(Math.abs(summary.recency[i] - tx)).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(Math.abs(summary.T[i] - T)).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(Math.abs(summary.meanSpend[i] - zbar)).toBeLessThanOrEqual(0.005 + 1e-9);
    });
    const bgNbd = fitBgNbd(summary);
    expect(outside(bgNbd.params, PUBLISHED_BG_NBD, 0.01)).toEqual([]);
    const gammaGamma = fitGammaGamma(summary.frequency, summary.meanSpend);
    expect(outside(gammaGamma.params, PUBLISHED_GAMMA_GAMMA, 0.01)).toEqual([]);
  });

  it('in days, the same fit: α is 7 times the weeks α, r, a and b unchanged, and the predictions agree', () => {
    const rows = readCsv(path.join(datasets, 'cdnow_customers_summary.csv'));
    const inUnit = (daysPerUnit: number) => ({
      frequency: Float64Array.from(rows, (row) => row[1]),
      recency: Float64Array.from(rows, (row) => (row[2] * 7) / daysPerUnit),
      T: Float64Array.from(rows, (row) => (row[3] * 7) / daysPerUnit),
    });
    const weeks = fitBgNbd(inUnit(7)).params;
    const days = fitBgNbd(inUnit(1)).params;
    expect(days.alpha / 7 / weeks.alpha).toBeCloseTo(1, 4);
    expect(days.r / weeks.r).toBeCloseTo(1, 4);
    expect(days.a / weeks.a).toBeCloseTo(1, 4);
    expect(days.b / weeks.b).toBeCloseTo(1, 4);
    const clv = (params: BgNbdParams, unit: 'weeks' | 'days', scale: number) =>
      customerLifetimeValue({
        bgNbd: params,
        gammaGamma: PUBLISHED_GAMMA_GAMMA,
        frequency: 2,
        recency: 30.43 * scale,
        T: 38.86 * scale,
        meanSpend: 22.35,
        unitsPerMonth: unitsPerMonth(unit),
      });
    expect(clv(days, 'days', 7) / clv(weeks, 'weeks', 1)).toBeCloseTo(1, 4);
  });
});

describe('predictions for one customer, against lifetimes', () => {
  // Known answers from lifetimes 0.11.3 (BetaGeoFitter / GammaGammaFitter with params_ set to the
  // published values, scipy 1.17): conditional_probability_alive(x, t_x, T),
  // conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T) for t = 1 and 52 weeks,
  // conditional_expected_average_profit(x, z̄) (for x = 0, γp/(q − 1) by hand), and the CLV by
  // lifetimes' customer_lifetime_value loop over 12 months of 365.25/12/7 weeks at 1% a month
  // (lifetimes itself takes 4.345 weeks a month) on those predictions.
  const known = [
    // x, t_x, T, z̄, P(alive), E[X(1)], E[X(52)], E[spend], CLV
    [0, 0, 38.86, 0, 1, 0.005595657889482763, 0.2520730222824504, 35.21897810218978, 8.374459099411789],
    [
      1, 1.71, 38.86, 11.77, 0.2121009853773791, 0.0060629517982834545, 0.25982346486862234,
      18.91685205784205, 4.64018506547975,
    ],
    [
      2, 30.43, 38.86, 22.35, 0.726578570080673, 0.037447969741730654, 1.5587208064320972, 24.663713910761157,
      36.31125721698214,
    ],
    [
      7, 35.71, 38.86, 19, 0.8600671246886445, 0.14290202377824074, 5.627209879140982, 19.955904495590453,
      106.16142717623173,
    ],
    [
      26, 35.14, 35.57, 40, 0.9630190347433145, 0.62630189000356, 23.40155696071686, 39.92072137496974,
      883.8917326771217,
    ],
    [
      3, 5, 38, 30, 0.040613381479274686, 0.003085717977942927, 0.12554755272323637, 30.665425779432294,
      3.6377335893270417,
    ],
  ];

  it.each(known)('x %d, t_x %d, T %d, mean spend %d', (x, tx, T, zbar, alive, next1, next52, spend, clv) => {
    expect(bgNbdProbabilityAlive(PUBLISHED_BG_NBD, x, tx, T)).toBeCloseTo(alive, 12);
    expect(bgNbdExpectedPurchases(PUBLISHED_BG_NBD, 1, x, tx, T) / next1).toBeCloseTo(1, 10);
    expect(bgNbdExpectedPurchases(PUBLISHED_BG_NBD, 52, x, tx, T) / next52).toBeCloseTo(1, 10);
    expect(gammaGammaExpectedSpend(PUBLISHED_GAMMA_GAMMA, x, zbar) / spend).toBeCloseTo(1, 12);
    const value = customerLifetimeValue({
      bgNbd: PUBLISHED_BG_NBD,
      gammaGamma: PUBLISHED_GAMMA_GAMMA,
      frequency: x,
      recency: tx,
      T,
      meanSpend: zbar,
      months: 12,
      monthlyDiscount: 0.01,
      unitsPerMonth: unitsPerMonth('weeks'),
    });
    expect(value / clv).toBeCloseTo(1, 10);
  });

  it('stays finite for very frequent customers, where 2F1 overflows (Euler transformation)', () => {
    // lifetimes 0.11.3: 126.8949975043997 and 1354.2977971088537 (its own fallback for the second).
    expect(bgNbdExpectedPurchases(PUBLISHED_BG_NBD, 52, 150, 38.5, 38.86) / 126.8949975043997).toBeCloseTo(
      1,
      10,
    );
    expect(bgNbdExpectedPurchases(PUBLISHED_BG_NBD, 520, 400, 38.8, 38.86) / 1354.2977971088537).toBeCloseTo(
      1,
      9,
    );
  });

  it('nothing is expected in no time, and discounting lowers the value', () => {
    expect(bgNbdExpectedPurchases(PUBLISHED_BG_NBD, 0, 2, 30.43, 38.86)).toBe(0);
    const at = (monthlyDiscount: number) =>
      customerLifetimeValue({
        bgNbd: PUBLISHED_BG_NBD,
        gammaGamma: PUBLISHED_GAMMA_GAMMA,
        frequency: 2,
        recency: 30.43,
        T: 38.86,
        meanSpend: 22.35,
        monthlyDiscount,
        unitsPerMonth: unitsPerMonth('weeks'),
      });
    const undiscounted = at(0);
    const spend = gammaGammaExpectedSpend(PUBLISHED_GAMMA_GAMMA, 2, 22.35);
    const months12 = 12 * unitsPerMonth('weeks');
    expect(undiscounted).toBeCloseTo(
      spend * bgNbdExpectedPurchases(PUBLISHED_BG_NBD, months12, 2, 30.43, 38.86),
      9,
    );
    expect(at(0.01)).toBeLessThan(undiscounted);
  });
});

describe('bad input gets an error that says what to fix', () => {
  const one = (x: number, tx: number, T: number): RepeatSummary => ({
    frequency: Float64Array.of(x, 1),
    recency: Float64Array.of(tx, 2),
    T: Float64Array.of(T, 5),
  });

  it.each([
    ['a recency after T', one(2, 6, 5), /customer 0 .*0 <= recency <= T/],
    ['a fractional frequency', one(1.5, 2, 5), /customer 0 .*whole number of repeat purchase days/],
    [
      'a recency without repeat purchases',
      one(0, 2, 5),
      /customer 0 .*without repeat purchases has recency 0/,
    ],
    ['a negative recency', one(1, -1, 5), /customer 0 .*0 <= recency <= T/],
  ])('BG/NBD refuses %s', (_, data, message) => {
    expect(() => fitBgNbd(data)).toThrow(message);
  });

  it('BG/NBD refuses arrays of different lengths and an empty summary', () => {
    expect(() =>
      fitBgNbd({ frequency: Float64Array.of(1), recency: Float64Array.of(1, 2), T: Float64Array.of(3) }),
    ).toThrow(/one entry per customer, but have 1, 2 and 1/);
    expect(() =>
      fitBgNbd({ frequency: new Float64Array(), recency: new Float64Array(), T: new Float64Array() }),
    ).toThrow(/at least one customer/);
  });

  it('Gamma-Gamma refuses a repeat customer whose spend is not positive, and data without repeat customers', () => {
    expect(() => fitGammaGamma(Float64Array.of(0, 2), Float64Array.of(0, -3))).toThrow(
      /customer 1: .*mean repeat spend is -3; leave out customers whose repeat purchases net to zero or less/,
    );
    expect(() => fitGammaGamma(Float64Array.of(0, 0), Float64Array.of(0, 0))).toThrow(
      /needs customers with a repeat purchase, and there are none/,
    );
  });

  it('the expected spend needs q > 1', () => {
    expect(() => gammaGammaExpectedSpend({ p: 2, q: 0.9, gamma: 10 }, 1, 5)).toThrow(/needs q > 1/);
  });
});
