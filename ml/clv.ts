/**
 * Customer lifetime value: the BG/NBD model of purchase occasions (Fader, Hardie & Lee 2005,
 * "Counting Your Customers the Easy Way") and the Gamma-Gamma model of the mean spend of repeat
 * purchases (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"), both fitted by maximum
 * likelihood. Pure functions over Float64Arrays, in double precision: see docs/models.md.
 *
 * The likelihoods and predictions follow the papers and CamDavidsonPilon/lifetimes 0.11
 * (`BetaGeoFitter`, `GammaGammaFitter`, `customer_lifetime_value`), which reproduce them.
 */
import digamma from '@stdlib/math-base-special-digamma';
import gammaln from '@stdlib/math-base-special-gammaln';
import hyp2f1 from '@stdlib/math-base-special-hyp2f1';
import { conjugateGradient } from 'fmin';
import { SeededRandom } from './random';

/**
 * One entry per customer, in one time unit (weeks or days):
 * - `frequency` x: repeat purchase days after the first purchase day (several orders on one day are one occasion);
 * - `recency` t_x: time from the first purchase day to the last one (0 when x = 0);
 * - `T`: time from the first purchase day to the end of the period.
 */
export interface RepeatSummary {
  frequency: Float64Array;
  recency: Float64Array;
  T: Float64Array;
}

/** BG/NBD: purchase rates λ ~ Gamma(shape r, rate α), drop-out after each repeat purchase p ~ Beta(a, b). α is in the data's time unit. */
export interface BgNbdParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

/** Gamma-Gamma: a purchase's spend ~ Gamma(p, ν) with ν ~ Gamma(shape q, rate γ); γ is in money. */
export interface GammaGammaParams {
  p: number;
  q: number;
  gamma: number;
}

export interface FitOptions<P> {
  /** Adds penalizer × (sum of the squared parameters) to the mean negative log-likelihood, as lifetimes' penalizer_coef. Default 0. */
  penalizer?: number;
  /** Where the search starts; default all parameters 1 (α and γ relative to the data's scale). */
  initial?: P;
  /**
   * Called after every iteration of the optimiser with the log-likelihood reached, summed over the
   * customers (less customers × the penalty when a penalizer is set).
   */
  onProgress?: (iteration: number, logLikelihood: number) => void;
  /** Default 1000. */
  maxIterations?: number;
}

export interface FitResult<P> {
  params: P;
  /** The log-likelihood summed over the customers at params (without the penalty). */
  logLikelihood: number;
  iterations: number;
  /** True when the gradient of the mean log-likelihood (in log-parameters) fell below 1e-5. */
  converged: boolean;
}

/** The average Julian month, in days: the month of `customerLifetimeValue`. */
export const DAYS_PER_MONTH = 365.25 / 12;

/** How many of the time unit make a month. */
export function unitsPerMonth(timeUnit: 'weeks' | 'days'): number {
  return timeUnit === 'weeks' ? DAYS_PER_MONTH / 7 : DAYS_PER_MONTH;
}

// ---------------------------------------------------------------------------------------------
// BG/NBD fit

/** Customers with the same (x, t_x, T) share one likelihood term: the data grouped, with weights. */
interface GroupedSummary {
  /** The distinct frequencies, and each group's index into them. */
  distinctX: Float64Array;
  xIndex: Int32Array;
  x: Float64Array;
  tx: Float64Array;
  T: Float64Array;
  weight: Float64Array;
  /** Summed weight of the groups of each distinct frequency. */
  weightByX: Float64Array;
  totalWeight: number;
}

function checkSummary(data: RepeatSummary): void {
  const n = data.frequency.length;
  if (data.recency.length !== n || data.T.length !== n) {
    throw new Error(
      `frequency, recency and T must have one entry per customer, but have ${n}, ${data.recency.length} and ${data.T.length}.`,
    );
  }
  if (n === 0) throw new Error('BG/NBD needs at least one customer, and the summary is empty.');
  for (let i = 0; i < n; i++) {
    const x = data.frequency[i];
    const tx = data.recency[i];
    const T = data.T[i];
    const where = `customer ${i} (frequency ${x}, recency ${tx}, T ${T})`;
    if (!(Number.isInteger(x) && x >= 0)) {
      throw new Error(`${where}: frequency must be a whole number of repeat purchase days, 0 or more.`);
    }
    if (!(tx >= 0 && T >= tx && Number.isFinite(T))) {
      throw new Error(
        `${where}: recency and T are times since the first purchase, so 0 <= recency <= T (both finite).`,
      );
    }
    if (x === 0 && tx !== 0) {
      throw new Error(`${where}: a customer without repeat purchases has recency 0.`);
    }
  }
}

function groupSummary(data: RepeatSummary, scale: number): GroupedSummary {
  const index = new Map<string, number>();
  const x: number[] = [];
  const tx: number[] = [];
  const T: number[] = [];
  const weight: number[] = [];
  for (let i = 0; i < data.frequency.length; i++) {
    const key = `${data.frequency[i]} ${data.recency[i]} ${data.T[i]}`;
    const group = index.get(key);
    if (group === undefined) {
      index.set(key, x.length);
      x.push(data.frequency[i]);
      tx.push(data.recency[i] / scale);
      T.push(data.T[i] / scale);
      weight.push(1);
    } else {
      weight[group] += 1;
    }
  }
  const distinctX = Float64Array.from(new Set(x)).sort();
  const position = new Map<number, number>();
  distinctX.forEach((value, j) => position.set(value, j));
  const xIndex = Int32Array.from(x, (value) => position.get(value) as number);
  const weightByX = new Float64Array(distinctX.length);
  xIndex.forEach((j, g) => (weightByX[j] += weight[g]));
  return {
    distinctX,
    xIndex,
    x: Float64Array.from(x),
    tx: Float64Array.from(tx),
    T: Float64Array.from(T),
    weight: Float64Array.from(weight),
    weightByX,
    totalWeight: data.frequency.length,
  };
}

/**
 * The BG/NBD log-likelihood summed over the groups at (r, α, a, b), and its gradient with respect
 * to the log-parameters written into `gradient` when given. Per customer (Fader, Hardie & Lee 2005, eq. 6):
 *   ln L = A1 + A2 + ln(e^A3 + [x > 0] e^A4), with
 *   A1 = lnΓ(r + x) − lnΓ(r) + r ln α,   A2 = lnΓ(a + b) + lnΓ(b + x) − lnΓ(b) − lnΓ(a + b + x),
 *   A3 = −(r + x) ln(α + T),             A4 = ln a − ln(b + x − 1) − (r + x) ln(α + t_x),
 * the last sum by log-sum-exp. The gamma-function terms depend on x only, so they are computed once
 * per distinct frequency.
 */
function groupedBgNbdLogLikelihood(data: GroupedSummary, params: BgNbdParams, gradient?: number[]): number {
  const { r, alpha, a, b } = params;
  const lnAlpha = Math.log(alpha);
  const perX = data.distinctX.length;
  const termX = new Float64Array(perX);
  const dTermXdR = new Float64Array(perX);
  const dTermXdA = new Float64Array(perX);
  const dTermXdB = new Float64Array(perX);
  const lnA4Constant = new Float64Array(perX);
  const bPlusXMinusOne = new Float64Array(perX);
  const lnGammaR = gammaln(r);
  const lnGammaB = gammaln(b);
  const lnGammaAB = gammaln(a + b);
  const psiR = digamma(r);
  const psiB = digamma(b);
  const psiAB = digamma(a + b);
  const lnA = Math.log(a);
  for (let j = 0; j < perX; j++) {
    const x = data.distinctX[j];
    termX[j] =
      gammaln(r + x) - lnGammaR + r * lnAlpha + lnGammaAB + gammaln(b + x) - lnGammaB - gammaln(a + b + x);
    if (gradient) {
      const psiABX = digamma(a + b + x);
      dTermXdR[j] = digamma(r + x) - psiR + lnAlpha;
      dTermXdA[j] = psiAB - psiABX;
      dTermXdB[j] = psiAB + digamma(b + x) - psiB - psiABX;
    }
    bPlusXMinusOne[j] = b + x - 1;
    lnA4Constant[j] = x > 0 ? lnA - Math.log(b + x - 1) : 0;
  }

  let total = 0;
  for (let j = 0; j < perX; j++) total += data.weightByX[j] * termX[j];
  let dR = 0;
  let dAlpha = 0;
  let dA = 0;
  let dB = 0;
  const groups = data.x.length;
  for (let g = 0; g < groups; g++) {
    const j = data.xIndex[g];
    const x = data.x[g];
    const w = data.weight[g];
    const rx = r + x;
    const alphaT = alpha + data.T[g];
    const lnAlphaT = Math.log(alphaT);
    const a3 = -rx * lnAlphaT;
    if (x === 0) {
      total += w * a3;
      if (gradient) {
        dR -= w * lnAlphaT;
        dAlpha -= (w * rx) / alphaT;
      }
      continue;
    }
    const alphaTx = alpha + data.tx[g];
    const lnAlphaTx = Math.log(alphaTx);
    const a4 = lnA4Constant[j] - rx * lnAlphaTx;
    const top = a3 > a4 ? a3 : a4;
    const e3 = Math.exp(a3 - top);
    const e4 = Math.exp(a4 - top);
    const sum = e3 + e4;
    total += w * (top + Math.log(sum));
    if (gradient) {
      const w3 = (w * e3) / sum;
      const w4 = (w * e4) / sum;
      dR -= w3 * lnAlphaT + w4 * lnAlphaTx;
      dAlpha -= rx * (w3 / alphaT + w4 / alphaTx);
      dA += w4 / a;
      dB -= w4 / bPlusXMinusOne[j];
    }
  }
  if (gradient) {
    for (let j = 0; j < perX; j++) {
      const w = data.weightByX[j];
      dR += w * dTermXdR[j];
      dA += w * dTermXdA[j];
      dB += w * dTermXdB[j];
    }
    dAlpha += (data.totalWeight * r) / alpha;
    // With respect to the log-parameters: d/d ln θ = θ d/dθ.
    gradient[0] = r * dR;
    gradient[1] = alpha * dAlpha;
    gradient[2] = a * dA;
    gradient[3] = b * dB;
  }
  return total;
}

/**
 * Fits BG/NBD by maximum likelihood. Times are divided by a scale (max T / 10, as lifetimes does)
 * so that the search starts from comparable parameters whatever the unit, and searched in
 * log-parameters so that they stay positive; α is scaled back before it is returned.
 */
export function fitBgNbd(data: RepeatSummary, options: FitOptions<BgNbdParams> = {}): FitResult<BgNbdParams> {
  checkSummary(data);
  let maxT = 0;
  for (let i = 0; i < data.T.length; i++) maxT = Math.max(maxT, data.T[i]);
  if (!(maxT > 0)) {
    throw new Error(
      'BG/NBD needs customers observed for some time: every T is 0 (all first purchases on the last day).',
    );
  }
  const scale = maxT / 10;
  const grouped = groupSummary(data, scale);
  const unscaled = (theta: number[]): BgNbdParams => ({
    r: Math.exp(theta[0]),
    alpha: Math.exp(theta[1]),
    a: Math.exp(theta[2]),
    b: Math.exp(theta[3]),
  });
  const initial = options.initial
    ? [options.initial.r, options.initial.alpha / scale, options.initial.a, options.initial.b].map(checkedLog)
    : [0, 0, 0, 0];
  // Dividing the times by `scale` multiplies each customer's likelihood by scale^x: take it off
  // again, so that the progress reports the log-likelihood in the data's own unit.
  let scaleShift = 0;
  for (let i = 0; i < data.frequency.length; i++) scaleShift += data.frequency[i] * Math.log(scale);
  const result = maximise(
    (theta, gradient) => groupedBgNbdLogLikelihood(grouped, unscaled(theta), gradient) - scaleShift,
    initial,
    grouped.totalWeight,
    options,
  );
  const fitted = unscaled(result.theta);
  const params = { ...fitted, alpha: fitted.alpha * scale };
  return {
    params,
    logLikelihood: groupedBgNbdLogLikelihood(groupSummary(data, 1), params),
    iterations: result.iterations,
    converged: result.converged,
  };
}

/** The BG/NBD log-likelihood of `data` at `params`, summed over the customers (e.g. to compare fits, or on a holdout). */
export function bgNbdLogLikelihood(params: BgNbdParams, data: RepeatSummary): number {
  checkSummary(data);
  return groupedBgNbdLogLikelihood(groupSummary(data, 1), params);
}

function checkedLog(value: number): number {
  if (!(value > 0 && Number.isFinite(value))) {
    throw new Error(`Initial parameters must be positive and finite, and one is ${value}.`);
  }
  return Math.log(value);
}

/**
 * Maximises a log-likelihood over log-parameters with fmin's conjugate gradient: it minimises the
 * mean negative log-likelihood per customer plus the penalty, and turns non-finite values (a step
 * into overflow) into +∞ so that the line search backs off.
 */
function maximise(
  logLikelihood: (theta: number[], gradient: number[]) => number,
  initial: number[],
  customers: number,
  options: FitOptions<unknown>,
): { theta: number[]; iterations: number; converged: boolean } {
  const penalizer = options.penalizer ?? 0;
  if (!(penalizer >= 0)) throw new Error(`The penalizer must be 0 or more, not ${penalizer}.`);
  const objective = (theta: number[], gradient: number[]): number => {
    let value = -logLikelihood(theta, gradient) / customers;
    for (let k = 0; k < theta.length; k++) {
      const param = Math.exp(theta[k]);
      value += penalizer * param * param;
      gradient[k] = -gradient[k] / customers + 2 * penalizer * param * param;
    }
    if (!Number.isFinite(value) || gradient.some((g) => !Number.isFinite(g))) {
      gradient.fill(0);
      return Infinity;
    }
    return value;
  };
  // fmin records each iteration's starting point in `history`, and the final point once more.
  let recorded = 0;
  const history = {
    push(point: { fx: number }) {
      recorded += 1;
      options.onProgress?.(recorded, -point.fx * customers);
    },
  };
  const found = conjugateGradient(objective, initial, {
    maxIterations: options.maxIterations ?? 1000,
    history,
  });
  const gradient = initial.map(() => 0);
  objective(found.x, gradient);
  return { theta: found.x, iterations: recorded - 1, converged: Math.hypot(...gradient) <= 1e-5 };
}

// ---------------------------------------------------------------------------------------------
// BG/NBD predictions for one customer (x, t_x, T in the unit the parameters were fitted in)

/** P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x − 1) · ((α + T) / (α + t_x))^(r + x)). */
export function bgNbdProbabilityAlive(params: BgNbdParams, x: number, tx: number, T: number): number {
  if (x === 0) return 1;
  const { r, alpha, a, b } = params;
  const lnOdds = Math.log(a / (b + x - 1)) + (r + x) * Math.log((alpha + T) / (alpha + tx));
  return 1 / (1 + Math.exp(lnOdds));
}

/**
 * E[purchases in (T, T + t] | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10):
 *   (a + b + x − 1)/(a − 1) · [1 − ((α + T)/(α + T + t))^(r + x) · 2F1(r + x, b + x; a + b + x − 1; t/(α + T + t))]
 *   / (1 + [x > 0] a/(b + x − 1) · ((α + T)/(α + t_x))^(r + x)).
 * The hypergeometric term is taken in logarithms, through Euler's transformation
 * 2F1(a, b; c; z) = (1 − z)^(c − a − b) 2F1(c − a, c − b; c; z) where it overflows (frequent customers), as lifetimes does.
 */
export function bgNbdExpectedPurchases(
  params: BgNbdParams,
  t: number,
  x: number,
  tx: number,
  T: number,
): number {
  if (t === 0) return 0;
  const { r, alpha, a, b } = params;
  const hypA = r + x;
  const hypB = b + x;
  const hypC = a + b + x - 1;
  const z = t / (alpha + T + t);
  let lnHyp = Math.log(hyp2f1(hypA, hypB, hypC, z));
  if (!Number.isFinite(lnHyp)) {
    lnHyp = Math.log(hyp2f1(hypC - hypA, hypC - hypB, hypC, z)) + (hypC - hypA - hypB) * Math.log1p(-z);
  }
  const remaining = -Math.expm1(lnHyp + (r + x) * Math.log1p(-z));
  const numerator = ((a + b + x - 1) / (a - 1)) * remaining;
  const denominator = x > 0 ? 1 + (a / (b + x - 1)) * Math.pow((alpha + T) / (alpha + tx), r + x) : 1;
  return numerator / denominator;
}

// ---------------------------------------------------------------------------------------------
// Gamma-Gamma

interface SpendData {
  x: Float64Array;
  /** ln of the mean spend, ln x, and the mean spend, all per customer with x > 0. */
  lnMean: Float64Array;
  lnX: Float64Array;
  mean: Float64Array;
  distinctX: Float64Array;
  xIndex: Int32Array;
  countByX: Float64Array;
}

function spendData(frequency: Float64Array, meanSpend: Float64Array, scale: number): SpendData {
  const x: number[] = [];
  const mean: number[] = [];
  for (let i = 0; i < frequency.length; i++) {
    if (frequency[i] === 0) continue;
    x.push(frequency[i]);
    mean.push(meanSpend[i] / scale);
  }
  const distinctX = Float64Array.from(new Set(x)).sort();
  const position = new Map<number, number>();
  distinctX.forEach((value, j) => position.set(value, j));
  const xIndex = Int32Array.from(x, (value) => position.get(value) as number);
  const countByX = new Float64Array(distinctX.length);
  xIndex.forEach((j) => (countByX[j] += 1));
  return {
    x: Float64Array.from(x),
    lnMean: Float64Array.from(mean, Math.log),
    lnX: Float64Array.from(x, Math.log),
    mean: Float64Array.from(mean),
    distinctX,
    xIndex,
    countByX,
  };
}

/**
 * The Gamma-Gamma log-likelihood of the mean spends m of customers with x repeat purchases
 * (Fader & Hardie 2013, eq. 3), summed, with its gradient in log-parameters when given:
 *   ln L = lnΓ(px + q) − lnΓ(px) − lnΓ(q) + q ln γ + (px − 1) ln m + px ln x − (px + q) ln(γ + m x).
 */
function groupedGammaGammaLogLikelihood(
  data: SpendData,
  params: GammaGammaParams,
  gradient?: number[],
): number {
  const { p, q, gamma } = params;
  const perX = data.distinctX.length;
  const termX = new Float64Array(perX);
  const dTermXdP = new Float64Array(perX);
  const dTermXdQ = new Float64Array(perX);
  const lnGammaQ = gammaln(q);
  const psiQ = digamma(q);
  const lnG = Math.log(gamma);
  for (let j = 0; j < perX; j++) {
    const x = data.distinctX[j];
    termX[j] = gammaln(p * x + q) - gammaln(p * x) - lnGammaQ + q * lnG;
    if (gradient) {
      const psiPXQ = digamma(p * x + q);
      dTermXdP[j] = x * (psiPXQ - digamma(p * x));
      dTermXdQ[j] = psiPXQ - psiQ + lnG;
    }
  }
  let total = 0;
  for (let j = 0; j < perX; j++) total += data.countByX[j] * termX[j];
  let dP = 0;
  let dQ = 0;
  let dGamma = 0;
  for (let i = 0; i < data.x.length; i++) {
    const x = data.x[i];
    const px = p * x;
    const spent = gamma + data.mean[i] * x;
    const lnSpent = Math.log(spent);
    total += (px - 1) * data.lnMean[i] + px * data.lnX[i] - (px + q) * lnSpent;
    if (gradient) {
      dP += x * (data.lnMean[i] + data.lnX[i] - lnSpent);
      dQ -= lnSpent;
      dGamma += q / gamma - (px + q) / spent;
    }
  }
  if (gradient) {
    for (let j = 0; j < perX; j++) {
      dP += data.countByX[j] * dTermXdP[j];
      dQ += data.countByX[j] * dTermXdQ[j];
    }
    gradient[0] = p * dP;
    gradient[1] = q * dQ;
    gradient[2] = gamma * dGamma;
  }
  return total;
}

/** Checks the inputs of Gamma-Gamma and counts the customers with frequency > 0 and their summed mean spends. */
function checkSpend(
  frequency: Float64Array,
  meanSpend: Float64Array,
): { repeaters: number; spendSum: number } {
  if (frequency.length !== meanSpend.length) {
    throw new Error(
      `frequency and meanSpend must have one entry per customer, but have ${frequency.length} and ${meanSpend.length}.`,
    );
  }
  let repeaters = 0;
  let spendSum = 0;
  for (let i = 0; i < frequency.length; i++) {
    const x = frequency[i];
    if (!(Number.isInteger(x) && x >= 0)) {
      throw new Error(
        `customer ${i}: frequency must be a whole number of repeat purchases, 0 or more, not ${x}.`,
      );
    }
    if (x === 0) continue;
    if (!(meanSpend[i] > 0 && Number.isFinite(meanSpend[i]))) {
      throw new Error(
        `customer ${i}: Gamma-Gamma models positive spends, and this customer's mean repeat spend is ${meanSpend[i]}; ` +
          'leave out customers whose repeat purchases net to zero or less.',
      );
    }
    repeaters += 1;
    spendSum += meanSpend[i];
  }
  if (repeaters === 0)
    throw new Error('Gamma-Gamma needs customers with a repeat purchase, and there are none.');
  return { repeaters, spendSum };
}

/**
 * Fits Gamma-Gamma to the customers with frequency > 0 (the others are skipped): `frequency` is
 * their number of repeat purchases with a spend and `meanSpend` the mean spend of those. Spends are
 * divided by their mean during the search (γ scales with money; p and q do not), and γ scaled back.
 */
export function fitGammaGamma(
  frequency: Float64Array,
  meanSpend: Float64Array,
  options: FitOptions<GammaGammaParams> = {},
): FitResult<GammaGammaParams> {
  const { repeaters, spendSum } = checkSpend(frequency, meanSpend);
  const scale = spendSum / repeaters;
  const data = spendData(frequency, meanSpend, scale);
  const unscaled = (theta: number[]): GammaGammaParams => ({
    p: Math.exp(theta[0]),
    q: Math.exp(theta[1]),
    gamma: Math.exp(theta[2]),
  });
  const initial = options.initial
    ? [options.initial.p, options.initial.q, options.initial.gamma / scale].map(checkedLog)
    : [0, 0, 0];
  // Dividing the spends by `scale` multiplies each customer's likelihood (a density of money) by scale.
  const scaleShift = repeaters * Math.log(scale);
  const result = maximise(
    (theta, gradient) => groupedGammaGammaLogLikelihood(data, unscaled(theta), gradient) - scaleShift,
    initial,
    repeaters,
    options,
  );
  const fitted = unscaled(result.theta);
  const params = { ...fitted, gamma: fitted.gamma * scale };
  return {
    params,
    logLikelihood: groupedGammaGammaLogLikelihood(spendData(frequency, meanSpend, 1), params),
    iterations: result.iterations,
    converged: result.converged,
  };
}

/** The Gamma-Gamma log-likelihood at `params` of the customers with frequency > 0, summed. */
export function gammaGammaLogLikelihood(
  params: GammaGammaParams,
  frequency: Float64Array,
  meanSpend: Float64Array,
): number {
  checkSpend(frequency, meanSpend);
  return groupedGammaGammaLogLikelihood(spendData(frequency, meanSpend, 1), params);
}

/**
 * E[spend of a purchase | x, m] = (γ + m x) p / (p x + q − 1) (Fader & Hardie 2013, eq. 5): a
 * weighted mean of the population mean γ p / (q − 1) and the customer's own mean m. With x = 0 it
 * is the population mean.
 */
export function gammaGammaExpectedSpend(params: GammaGammaParams, x: number, meanSpend: number): number {
  const { p, q, gamma } = params;
  if (!(q > 1)) {
    throw new Error(`Gamma-Gamma's expected spend needs q > 1 (the mean of 1/ν), and q is ${q}.`);
  }
  return ((gamma + (x > 0 ? meanSpend * x : 0)) * p) / (p * x + q - 1);
}

// ---------------------------------------------------------------------------------------------
// Lifetime value

export interface LifetimeValueInput {
  bgNbd: BgNbdParams;
  gammaGamma: GammaGammaParams;
  /** x, t_x, T in the unit BG/NBD was fitted in. */
  frequency: number;
  recency: number;
  T: number;
  /** Mean spend of the repeat purchases (ignored when spendFrequency is 0). */
  meanSpend: number;
  /** Repeat purchases with a spend, for Gamma-Gamma; default `frequency`. */
  spendFrequency?: number;
  /** The horizon in months; default 12. */
  months?: number;
  /** Monthly discount rate; default 0.01. */
  monthlyDiscount?: number;
  /** How many time units make a month: `unitsPerMonth('weeks')` or `unitsPerMonth('days')`. */
  unitsPerMonth: number;
}

/**
 * The expected discounted value of a customer's purchases over the next `months` months, as
 * lifetimes' `customer_lifetime_value`: Σ_{i=1..months} E[spend] · (E[X(i·u)] − E[X((i − 1)·u)]) / (1 + d)^i,
 * u the units in a month, E[X(t)] BG/NBD's conditional expected purchases and E[spend] Gamma-Gamma's.
 */
export function customerLifetimeValue(input: LifetimeValueInput): number {
  const months = input.months ?? 12;
  const discount = input.monthlyDiscount ?? 0.01;
  if (!(Number.isInteger(months) && months >= 0))
    throw new Error(`months must be a whole number, not ${months}.`);
  if (!(discount > -1)) throw new Error(`The monthly discount rate must be above -1, not ${discount}.`);
  if (!(input.unitsPerMonth > 0))
    throw new Error(`unitsPerMonth must be positive, not ${input.unitsPerMonth}.`);
  const spend = gammaGammaExpectedSpend(
    input.gammaGamma,
    input.spendFrequency ?? input.frequency,
    input.meanSpend,
  );
  let value = 0;
  let before = 0;
  for (let i = 1; i <= months; i++) {
    const upTo = bgNbdExpectedPurchases(
      input.bgNbd,
      i * input.unitsPerMonth,
      input.frequency,
      input.recency,
      input.T,
    );
    value += (spend * (upTo - before)) / Math.pow(1 + discount, i);
    before = upTo;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Simulation, for tests and benchmarks

/**
 * Customers drawn from BG/NBD with `params`, each first purchasing at time 0 and observed until T
 * (one T for all, or one per customer): λ ~ Gamma(r, α), p ~ Beta(a, b); purchases follow a Poisson
 * process of rate λ, and after each repeat purchase the customer drops out with probability p.
 * Deterministic for a seed.
 */
export function simulateBgNbd(
  params: BgNbdParams,
  customers: number,
  T: number | Float64Array,
  seed: number,
): RepeatSummary {
  if (typeof T !== 'number' && T.length !== customers) {
    throw new Error(`T must be one number or one per customer (${customers}), and has ${T.length} entries.`);
  }
  const random = new SeededRandom(seed);
  const draw = distributions(random);
  const frequency = new Float64Array(customers);
  const recency = new Float64Array(customers);
  const age = new Float64Array(customers);
  for (let i = 0; i < customers; i++) {
    const observed = typeof T === 'number' ? T : T[i];
    const rate = draw.gamma(params.r, params.alpha);
    const dropout = draw.beta(params.a, params.b);
    let time = 0;
    let repeats = 0;
    let last = 0;
    for (;;) {
      time += draw.exponential(rate);
      if (time > observed) break;
      repeats += 1;
      last = time;
      if (draw.uniform() < dropout) break;
    }
    frequency[i] = repeats;
    recency[i] = last;
    age[i] = observed;
  }
  return { frequency, recency, T: age };
}

/**
 * Mean spends drawn from Gamma-Gamma for customers with the given repeat purchases: ν ~ Gamma(q, γ)
 * per customer, and the mean of x spends ~ Gamma(p, ν) is Gamma(p x, x ν). 0 where x is 0.
 */
export function simulateGammaGamma(
  params: GammaGammaParams,
  frequency: Float64Array,
  seed: number,
): Float64Array {
  const draw = distributions(new SeededRandom(seed));
  return frequency.map((x) => {
    if (x === 0) return 0;
    const nu = draw.gamma(params.q, params.gamma);
    return draw.gamma(params.p * x, x * nu);
  });
}

/** Uniform, exponential, gamma and beta draws from a seeded generator. */
function distributions(random: SeededRandom) {
  // SeededRandom.next() is in [0, 1): 1 − next() is in (0, 1], whose logarithm is finite.
  const uniform = (): number => 1 - random.next();
  /** Marsaglia & Tsang (2000) for shape >= 1; below 1, a draw at shape + 1 times U^(1/shape). */
  const gamma = (shape: number, rate: number): number => {
    if (shape < 1) return gamma(shape + 1, rate) * Math.pow(uniform(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      const z = random.normal();
      if (1 + c * z <= 0) continue;
      const v = Math.pow(1 + c * z, 3);
      if (Math.log(uniform()) < 0.5 * z * z + d - d * v + d * Math.log(v)) return (d * v) / rate;
    }
  };
  return {
    uniform,
    exponential: (rate: number) => -Math.log(uniform()) / rate,
    gamma,
    beta: (a: number, b: number) => {
      const x = gamma(a, 1);
      return x / (x + gamma(b, 1));
    },
  };
}
