/**
 * Product demand for the week ahead (docs/models-forecast.md, Stock outlook): a logistic regression for
 * the probability that a product sells in the next 7 days and a Poisson regression for its units, both
 * L2-regularised and fitted by Newton's method in Float64, with the AUC and log loss that evaluate them.
 *
 * Pure: a row-major feature matrix (the caller standardises it; column 0 is the intercept) in,
 * coefficients and predictions out.
 */
import { choleskySolve } from './forecast';

export interface GlmFit {
  coefficients: Float64Array;
  iterations: number;
  converged: boolean;
}

type Family = 'logistic' | 'poisson';

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/**
 * Maximises the family's log likelihood less λ/2·‖β‖² (the intercept unpenalised) by Newton's method:
 * each step solves (XᵀWX + λI) Δ = Xᵀ(y − μ) − λβ, with W = μ(1 − μ) (logistic) or μ (Poisson).
 */
function fitGlm(family: Family, X: Float64Array, y: Float64Array, p: number, lambda: number): GlmFit {
  const n = y.length;
  if (X.length !== n * p) throw new Error(`the feature matrix has ${X.length} values, not ${n} rows × ${p}`);
  if (n === 0) throw new Error('a regression needs at least one row');
  const beta = new Float64Array(p);
  if (family === 'poisson') {
    const mean = y.reduce((s, v) => s + v, 0) / n;
    beta[0] = Math.log(Math.max(mean, 1e-6));
  }
  let iterations = 0;
  let converged = false;
  while (iterations < 50 && !converged) {
    iterations++;
    const H = new Float64Array(p * p);
    const g = new Float64Array(p);
    for (let i = 0; i < n; i++) {
      let z = 0;
      for (let j = 0; j < p; j++) z += X[i * p + j] * beta[j];
      const mu = family === 'logistic' ? sigmoid(z) : Math.exp(Math.min(z, 30));
      const w = family === 'logistic' ? mu * (1 - mu) : mu;
      const r = y[i] - mu;
      for (let j = 0; j < p; j++) {
        const xj = X[i * p + j];
        g[j] += xj * r;
        for (let k = 0; k <= j; k++) H[j * p + k] += w * xj * X[i * p + k];
      }
    }
    for (let j = 0; j < p; j++) {
      for (let k = 0; k < j; k++) H[k * p + j] = H[j * p + k];
      const penalty = j === 0 ? 1e-8 : lambda;
      H[j * p + j] += penalty;
      g[j] -= penalty * beta[j];
    }
    const step = choleskySolve(H, g, p);
    if (!step) throw new Error('the regression’s Hessian is not positive definite');
    let largest = 0;
    for (let j = 0; j < p; j++) {
      beta[j] += step[j];
      largest = Math.max(largest, Math.abs(step[j]));
    }
    converged = largest < 1e-8;
  }
  return { coefficients: beta, iterations, converged };
}

export const fitLogistic = (X: Float64Array, y: Float64Array, p: number, lambda = 1) =>
  fitGlm('logistic', X, y, p, lambda);
export const fitPoisson = (X: Float64Array, y: Float64Array, p: number, lambda = 1) =>
  fitGlm('poisson', X, y, p, lambda);

function linear(X: Float64Array, beta: Float64Array, p: number): Float64Array {
  const n = X.length / p;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = 0;
    for (let j = 0; j < p; j++) z += X[i * p + j] * beta[j];
    out[i] = z;
  }
  return out;
}

export const predictProbability = (X: Float64Array, beta: Float64Array, p: number) =>
  linear(X, beta, p).map(sigmoid);
export const predictCount = (X: Float64Array, beta: Float64Array, p: number) =>
  linear(X, beta, p).map((z) => Math.exp(Math.min(z, 30)));

/** Area under the ROC curve: the probability a random positive scores above a random negative (ties half). */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]] === scores[order[start]]) end++;
    const averageRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++)
      if (labels[order[k]] > 0) {
        positives++;
        rankSum += averageRank;
      }
    start = end + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean negative log likelihood of 0/1 labels under probabilities clipped to [1e-15, 1 − 1e-15]. */
export function logLoss(probabilities: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const q = Math.min(Math.max(probabilities[i], 1e-15), 1 - 1e-15);
    sum -= labels[i] > 0 ? Math.log(q) : Math.log(1 - q);
  }
  return sum / labels.length;
}
