import { auc, fitLogistic, fitPoisson, logLoss, predictCount, predictProbability } from '../../ml/stock';
import { SeededRandom } from '../../ml/random';

/** n rows of [1, x1, x2] with standard normal x. */
function features(n: number, seed: number): Float64Array {
  const random = new SeededRandom(seed);
  const X = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    X[i * 3] = 1;
    X[i * 3 + 1] = random.normal();
    X[i * 3 + 2] = random.normal();
  }
  return X;
}

describe('the stock outlook regressions', () => {
  it('recovers planted logistic coefficients', () => {
    const truth = [-0.5, 1.5, -1];
    const n = 20_000;
    const X = features(n, 1);
    const random = new SeededRandom(2);
    const y = Float64Array.from({ length: n }, (_, i) => {
      const z = truth[0] + truth[1] * X[i * 3 + 1] + truth[2] * X[i * 3 + 2];
      return random.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    });
    const fit = fitLogistic(X, y, 3, 1e-6);
    expect(fit.converged).toBe(true);
    Array.from(fit.coefficients).forEach((b, j) => expect(b).toBeCloseTo(truth[j], 1));
    const p = predictProbability(X, fit.coefficients, 3);
    expect(auc(p, y)).toBeGreaterThan(0.8);
    expect(logLoss(p, y)).toBeLessThan(
      logLoss(new Float64Array(n).fill(y.reduce((s, v) => s + v, 0) / n), y),
    );
  });

  it('recovers planted Poisson coefficients', () => {
    const truth = [0.3, 0.6, -0.4];
    const n = 20_000;
    const X = features(n, 3);
    const random = new SeededRandom(4);
    const y = Float64Array.from({ length: n }, (_, i) => {
      const mu = Math.exp(truth[0] + truth[1] * X[i * 3 + 1] + truth[2] * X[i * 3 + 2]);
      let count = 0;
      for (let t = -Math.log(1 - random.next()); t < mu; t -= Math.log(1 - random.next())) count++;
      return count;
    });
    const fit = fitPoisson(X, y, 3, 1e-6);
    expect(fit.converged).toBe(true);
    Array.from(fit.coefficients).forEach((b, j) => expect(b).toBeCloseTo(truth[j], 1));
    expect(predictCount(X, fit.coefficients, 3)[0]).toBeCloseTo(
      Math.exp(truth[0] + truth[1] * X[1] + truth[2] * X[2]),
      0,
    );
  });

  it('computes AUC with ties and log loss by hand', () => {
    // Pairs (positive, negative): (0.8, 0.1) 1, (0.8, 0.4) 1, (0.4, 0.1) 1, (0.4, 0.4) ½ → 3.5 / 4.
    expect(auc([0.1, 0.4, 0.4, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.875, 12);
    expect(logLoss([0.5, 0.9], [1, 0])).toBeCloseTo(-(Math.log(0.5) + Math.log(0.1)) / 2, 12);
    expect(auc([0.3, 0.2], [1, 1])).toBeNaN();
  });
});
