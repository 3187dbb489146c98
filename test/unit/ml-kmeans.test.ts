import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { parse } from 'csv-parse/sync';
import { useTensorFlow } from '../../ml/backend';
import {
  assignPlainJs,
  assignTensorFlow,
  chooseClusterCount,
  describeCentroid,
  hungarian,
  kMeans,
  nameClusters,
  silhouetteScore,
  standardiseRfm,
} from '../../ml/kmeans';
import { SeededRandom } from '../../ml/random';
import { testBackendChoice } from '../helpers/ml-backend';

const RETAIL = path.resolve(__dirname, '../../../shared/data/online-retail-sample.csv.gz');

/**
 * scikit-learn 1.9.1's KMeans(n_clusters=k, init='k-means++', n_init=10, random_state=0) on the same
 * standardised features (retailFeatures below), and silhouette_score on all points with its labels:
 *
 *   pip install scikit-learn
 *   python3 test/fixtures/sklearn-kmeans-reference.py ../shared/data/online-retail-sample.csv.gz
 *
 * which printed "customers 2931, last day 2011-06-26, monetary <= 0: 9" and these lines.
 */
const SKLEARN: Record<number, { inertia: number; silhouette: number }> = {
  2: { inertia: 4680.5177, silhouette: 0.4287 },
  3: { inertia: 3537.4463, silhouette: 0.3457 },
  4: { inertia: 2794.2775, silhouette: 0.3646 },
  5: { inertia: 2418.5207, silhouette: 0.3135 },
  6: { inertia: 2139.8087, silhouette: 0.2807 },
  7: { inertia: 1924.6436, silhouette: 0.2799 },
  8: { inertia: 1750.8128, silhouette: 0.2786 },
  9: { inertia: 1609.2582, silhouette: 0.2766 },
  10: { inertia: 1482.4116, silhouette: 0.2803 },
};

/**
 * RFM per customer of the Online Retail sample, as the reference script computes it: customers with a
 * purchase (an invoice not starting with "C"); recency = whole days from the last purchase to the file's
 * last invoice day; frequency = distinct purchase invoices; monetary = Σ quantity × unit price over all
 * the customer's lines, cancellations included (so it can be ≤ 0). Customers in id order.
 */
function retailRfm(): { recency: Float64Array; frequency: Float64Array; monetary: Float64Array } {
  const rows: Record<string, string>[] = parse(zlib.gunzipSync(fs.readFileSync(RETAIL)), { columns: true });
  const dayOf = (text: string): number => {
    const [month, day, year] = text.split(' ')[0].split('/').map(Number);
    return Date.UTC(2000 + year, month - 1, day) / 86_400_000;
  };
  let lastDay = -Infinity;
  const customers = new Map<string, { last: number; invoices: Set<string>; monetary: number }>();
  const spend = new Map<string, number>();
  for (const row of rows) {
    const day = dayOf(row.InvoiceDate);
    lastDay = Math.max(lastDay, day);
    const id = row.CustomerID;
    if (id === '') continue;
    spend.set(id, (spend.get(id) ?? 0) + Number(row.Quantity) * Number(row.UnitPrice));
    if (row.InvoiceNo.startsWith('C')) continue;
    const customer = customers.get(id) ?? { last: -Infinity, invoices: new Set<string>(), monetary: 0 };
    customer.last = Math.max(customer.last, day);
    customer.invoices.add(row.InvoiceNo);
    customers.set(id, customer);
  }
  const ids = [...customers.keys()].sort();
  return {
    recency: Float64Array.from(ids, (id) => lastDay - customers.get(id)!.last),
    frequency: Float64Array.from(ids, (id) => customers.get(id)!.invoices.size),
    monetary: Float64Array.from(ids, (id) => spend.get(id)!),
  };
}

/** Points around the given centres (one row per centre) with the given spread; labels say which centre. */
function blobs(
  centres: number[][],
  perCentre: number,
  spread: number,
  seed: number,
): { features: Float32Array; labels: Int32Array } {
  const random = new SeededRandom(seed);
  const dims = centres[0].length;
  const features = new Float32Array(centres.length * perCentre * dims);
  const labels = new Int32Array(centres.length * perCentre);
  let point = 0;
  for (let i = 0; i < perCentre; i += 1) {
    centres.forEach((centre, label) => {
      centre.forEach((value, j) => {
        features[point * dims + j] = value + spread * random.normal();
      });
      labels[point] = label;
      point += 1;
    });
  }
  return { features, labels };
}

/** Brute-force silhouette in Float64, straight from the definition. */
function plainSilhouette(features: Float32Array, dims: number, labels: Int32Array, k: number): number {
  const n = labels.length;
  const sizes = new Array<number>(k).fill(0);
  for (const label of labels) sizes[label] += 1;
  let total = 0;
  for (let i = 0; i < n; i += 1) {
    const sums = new Array<number>(k).fill(0);
    for (let j = 0; j < n; j += 1) {
      let squares = 0;
      for (let d = 0; d < dims; d += 1) squares += (features[i * dims + d] - features[j * dims + d]) ** 2;
      sums[labels[j]] += Math.sqrt(squares);
    }
    const own = labels[i];
    if (sizes[own] === 1) continue;
    const a = sums[own] / (sizes[own] - 1);
    const b = Math.min(...sums.map((sum, c) => (c === own || sizes[c] === 0 ? Infinity : sum / sizes[c])));
    total += (b - a) / Math.max(a, b);
  }
  return total / n;
}

/** True when `found` equals `truth` up to a renumbering of the clusters. */
function sameUpToRelabelling(found: Int32Array, truth: Int32Array): boolean {
  const forward = new Map<number, number>();
  const backward = new Map<number, number>();
  for (let i = 0; i < found.length; i += 1) {
    if ((forward.get(found[i]) ?? truth[i]) !== truth[i]) return false;
    if ((backward.get(truth[i]) ?? found[i]) !== found[i]) return false;
    forward.set(found[i], truth[i]);
    backward.set(truth[i], found[i]);
  }
  return true;
}

beforeAll(async () => {
  await useTensorFlow(testBackendChoice());
});

describe('standardiseRfm', () => {
  it('z-scores log1p of each dimension with the population standard deviation, monetary clamped at 0', () => {
    const { features, mean, std } = standardiseRfm(
      Float64Array.of(0, 9, 99),
      Float64Array.of(1, 1, 3),
      Float64Array.of(-25, 0, Math.E - 1),
    );
    const recencyLogs = [0, Math.log(10), Math.log(100)];
    const recencyMean = (Math.log(10) + Math.log(100)) / 3;
    const recencyStd = Math.sqrt(recencyLogs.reduce((sum, v) => sum + (v - recencyMean) ** 2, 0) / 3);
    expect(mean[0]).toBeCloseTo(recencyMean, 12);
    expect(std[0]).toBeCloseTo(recencyStd, 12);
    expect(features[3 * 2 + 0]).toBeCloseTo((Math.log(100) - recencyMean) / recencyStd, 6);
    // monetary −25 and 0 are both log1p(0) = 0; e − 1 is log1p = 1: mean 1/3, std √2/3.
    expect(mean[2]).toBeCloseTo(1 / 3, 12);
    expect(std[2]).toBeCloseTo(Math.sqrt(2) / 3, 12);
    expect(features[2]).toBe(features[3 + 2]);
    expect(features[2]).toBeCloseTo(-1 / Math.sqrt(2), 6);
  });

  it('gives a dimension without spread z-scores of 0 (std 1) instead of dividing by zero', () => {
    const { features, std } = standardiseRfm(
      Float64Array.of(3, 5),
      Float64Array.of(2, 2),
      Float64Array.of(10, 20),
    );
    expect(std[1]).toBe(1);
    expect([features[1], features[4]]).toEqual([0, 0]);
  });

  it('says which customer and dimension is wrong', () => {
    expect(() =>
      standardiseRfm(Float64Array.of(1, -2), Float64Array.of(1, 1), Float64Array.of(1, 1)),
    ).toThrow('recency of customer at index 1 is -2; recency cannot be negative');
    expect(() => standardiseRfm(Float64Array.of(1), Float64Array.of(NaN), Float64Array.of(1))).toThrow(
      'frequency of customer at index 0 is NaN, not a finite number',
    );
    expect(() => standardiseRfm(Float64Array.of(1), Float64Array.of(1, 2), Float64Array.of(1))).toThrow(
      'recency has 1, frequency 2, monetary 1',
    );
  });
});

describe('kMeans and chooseClusterCount', () => {
  const planted = [
    [-3, -3, 0],
    [3, -3, 0],
    [0, 3, -3],
    [0, 3, 3],
  ];

  it('recovers well-separated planted blobs: k = 4 by the silhouette, every point in its blob', () => {
    const { features, labels } = blobs(planted, 150, 0.4, 11);
    const progress: number[] = [];
    const choice = chooseClusterCount(features, 3, { seed: 5, onProgress: (k) => progress.push(k) });
    expect(choice.k).toBe(4);
    expect(choice.candidates.map((candidate) => candidate.k)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(progress).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(choice.candidates[2].silhouette).toBeGreaterThan(0.8);
    expect(sameUpToRelabelling(choice.best.assignments, labels)).toBe(true);
    // The centroids are the means of the planted blobs' points.
    for (let c = 0; c < 4; c += 1) {
      const blob = choice.best.assignments.findIndex((cluster) => cluster === c);
      const members = labels.map((label) => (label === labels[blob] ? 1 : 0));
      const count = members.reduce((sum, member) => sum + member, 0);
      for (let j = 0; j < 3; j += 1) {
        const mean = members.reduce((sum, member, i) => sum + member * features[i * 3 + j], 0) / count;
        expect(choice.best.centroids[c * 3 + j]).toBeCloseTo(mean, 4);
      }
    }
  });

  it('numbers clusters by size, largest first, and reports the inertia of its own centroids and assignments', () => {
    const { features } = blobs([[0, 0, 0]], 40, 0.3, 3);
    const big = blobs([[5, 5, 5]], 100, 0.3, 4).features;
    const all = new Float32Array([...features, ...big]);
    const fit = kMeans(all, 3, 2, { seed: 1 });
    expect(fit.assignments.filter((c) => c === 0).length).toBe(100);
    expect(fit.centroids[0]).toBeGreaterThan(4);
    let inertia = 0;
    for (let i = 0; i < 140; i += 1) {
      for (let j = 0; j < 3; j += 1)
        inertia += (all[i * 3 + j] - fit.centroids[fit.assignments[i] * 3 + j]) ** 2;
    }
    expect(fit.inertia).toBeCloseTo(inertia, 6);
    expect(fit.iterations).toBeGreaterThanOrEqual(1);
  });

  it('is deterministic for a seed, and leaves no tensors behind over 9 k values × 10 restarts', () => {
    const { features } = blobs(planted, 100, 1.6, 21);
    const before = tf.memory().numTensors;
    const first = chooseClusterCount(features, 3, { seed: 42 });
    const second = chooseClusterCount(features, 3, { seed: 42 });
    expect(tf.memory().numTensors).toBe(before);
    expect(second.candidates).toEqual(first.candidates);
    expect(second.best.centroids).toEqual(first.best.centroids);
    expect(second.best.assignments).toEqual(first.best.assignments);
  });

  it('reaches an inertia no worse than the best of its restarts run one at a time', () => {
    const { features } = blobs(planted, 100, 1.6, 22);
    const together = kMeans(features, 3, 6, { seed: 9, restarts: 10 });
    const single = kMeans(features, 3, 6, { seed: 9, restarts: 1 });
    expect(together.inertia).toBeLessThanOrEqual(single.inertia + 1e-9);
  });

  it('with more points than the warm-start sample, converges on all points to an inertia within 0.5% of a cold start', () => {
    const { features } = blobs(planted, 3_000, 1.8, 24);
    const before = tf.memory().numTensors;
    const warm = kMeans(features, 3, 5, { seed: 6, warmStartSample: 2_000 });
    const cold = kMeans(features, 3, 5, { seed: 6, warmStartSample: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(warm.inertia / cold.inertia - 1)).toBeLessThan(0.005);
    // Converged on all points: one more Lloyd step moves the centroids (sum of squares) by no more than
    // the order of the stopping tolerance, 1e-4 × the mean variance of the features (twice it, at most).
    const sums = new Float64Array(5 * 3);
    const counts = new Float64Array(5);
    warm.assignments.forEach((cluster, i) => {
      counts[cluster] += 1;
      for (let j = 0; j < 3; j += 1) sums[cluster * 3 + j] += features[i * 3 + j];
    });
    let step = 0;
    for (let c = 0; c < 5; c += 1) {
      for (let j = 0; j < 3; j += 1) step += (sums[c * 3 + j] / counts[c] - warm.centroids[c * 3 + j]) ** 2;
    }
    let variance = 0;
    for (let j = 0; j < 3; j += 1) {
      const values = Array.from({ length: warm.assignments.length }, (_, i) => features[i * 3 + j]);
      const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
      variance += values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length / 3;
    }
    expect(step).toBeLessThan(2 * 1e-4 * variance);
    expect(() => kMeans(features, 3, 5, { seed: 6, warmStartSample: -1 })).toThrow(
      'warmStartSample must be an integer ≥ 0 (0: none), got -1',
    );
  });

  it('assigns each point to its nearest centroid the same way in plain JavaScript and on the backend', () => {
    const { features } = blobs(planted, 250, 1.2, 23);
    const fit = kMeans(features, 3, 5, { seed: 2 });
    const plain = assignPlainJs(features, 3, fit.centroids, 5);
    expect(assignTensorFlow(features, 3, fit.centroids, 5)).toEqual(plain);
    expect(plain).toEqual(fit.assignments);
  });

  it('lands within 1% of scikit-learn’s inertia for every k on the Online Retail sample, and chooses its k', () => {
    const { recency, frequency, monetary } = retailRfm();
    expect(recency.length).toBe(2931);
    expect(monetary.filter((value) => value <= 0).length).toBe(9);
    const { features } = standardiseRfm(recency, frequency, monetary);
    const choice = chooseClusterCount(features, 3, { seed: 0 });
    const ratios = choice.candidates.map(({ k, inertia }) => ({ k, ratio: inertia / SKLEARN[k].inertia }));
    expect(ratios.filter(({ ratio }) => Math.abs(ratio - 1) > 0.01)).toEqual([]);
    const sklearnChoice = Number(
      Object.entries(SKLEARN).reduce((best, entry) =>
        entry[1].silhouette > best[1].silhouette ? entry : best,
      )[0],
    );
    expect(choice.k).toBe(sklearnChoice);
    // Fewer than 10,000 customers: the silhouette is exact, as scikit-learn's on the same clustering.
    expect(choice.candidates[choice.k - 2].silhouette).toBeCloseTo(SKLEARN[choice.k].silhouette, 2);
  });

  it('says what is wrong with its input', () => {
    const features = Float32Array.of(0, 0, 1, 1, 2, 2);
    expect(() => kMeans(features, 2, 4, { seed: 1 })).toThrow(
      'k-means needs an integer k between 1 and the number of points (3), got 4',
    );
    expect(() => kMeans(features, 4, 2, { seed: 1 })).toThrow('features must hold n×4 values');
    expect(() => kMeans(Float32Array.of(0, NaN), 1, 1, { seed: 1 })).toThrow(
      'feature value at index 1 is NaN, not a finite number',
    );
    expect(() => kMeans(features, 2, 2, { seed: 1.5 })).toThrow('seed must be an integer, got 1.5');
    expect(() => chooseClusterCount(Float32Array.of(1, 1, 1, 1, 1, 1), 2, { seed: 1 })).toThrow(
      'there are 3 customers with 1 different values',
    );
  });

  it('stops k at the number of distinct points', () => {
    const features = Float32Array.of(0, 0, 0, 0, 5, 5, 5, 5, 9, 0, 9, 0.1);
    const choice = chooseClusterCount(features, 2, { seed: 1 });
    expect(choice.candidates.map((candidate) => candidate.k)).toEqual([2, 3, 4]);
  });
});

describe('silhouetteScore', () => {
  it('equals a brute-force computation of the definition on a small set', () => {
    const { features } = blobs(
      [
        [0, 0, 0],
        [1.5, 0, 0],
        [0, 2, 1],
      ],
      60,
      0.7,
      31,
    );
    const fit = kMeans(features, 3, 3, { seed: 3 });
    const expected = plainSilhouette(features, 3, fit.assignments, 3);
    expect(silhouetteScore(features, 3, fit.assignments, 3, { seed: 1 })).toBeCloseTo(expected, 4);
    // A cluster of one point counts 0 for that point.
    const labels = Int32Array.from(fit.assignments);
    labels[0] = 3;
    const withSingleton = plainSilhouette(features, 3, labels, 4);
    expect(silhouetteScore(features, 3, labels, 4, { seed: 1 })).toBeCloseTo(withSingleton, 4);
  });

  it('on a sample: deterministic for the seed and close to the exact value', () => {
    const { features } = blobs(fourCentres(), 500, 1.2, 32);
    const fit = kMeans(features, 3, 4, { seed: 4 });
    const exact = silhouetteScore(features, 3, fit.assignments, 4, { seed: 1 });
    const sampled = silhouetteScore(features, 3, fit.assignments, 4, { seed: 1, sampleSize: 400 });
    expect(silhouetteScore(features, 3, fit.assignments, 4, { seed: 1, sampleSize: 400 })).toBe(sampled);
    expect(sampled).not.toBe(exact);
    expect(Math.abs(sampled - exact)).toBeLessThan(0.05);
  });

  it('needs at least two clusters', () => {
    expect(() =>
      silhouetteScore(Float32Array.of(0, 1, 2), 1, Int32Array.of(0, 0, 0), 2, { seed: 1 }),
    ).toThrow('the silhouette needs between 2 and 2 non-empty clusters among the 3 points it uses, got 1');
  });

  function fourCentres(): number[][] {
    return [
      [-2, -2, 0],
      [2, -2, 0],
      [0, 2, -2],
      [0, 2, 2],
    ];
  }
});

describe('nameClusters', () => {
  const centroids = Float64Array.of(-1, 1, 1, 0.8, -0.9, -0.6, 0.2, 0.5, -0.5, -0.7, -0.7, 0.1);
  const sizes = [100, 300, 200, 150];

  it('names each cluster by its centroid: above +0.5 the high word, below −0.5 the low word, else the middle', () => {
    expect(nameClusters(centroids, 3, sizes).map((cluster) => cluster.name)).toEqual([
      'recent, frequent, high spend',
      'lapsed, infrequent, low spend',
      'lapsing, occasional, mid spend',
      'recent, infrequent, mid spend',
    ]);
    expect(describeCentroid([0.51, -0.51, 0.5])).toBe('lapsed, infrequent, mid spend');
  });

  it('keeps names unique: a second cluster with the same description gets " (2)", the larger keeps the plain name', () => {
    const named = nameClusters(Float64Array.of(-1, 1, 1, -0.9, 0.8, 0.9), 3, [10, 20]);
    expect(named.map((cluster) => cluster.name)).toEqual([
      'recent, frequent, high spend (2)',
      'recent, frequent, high spend',
    ]);
  });

  it('keeps the previous names under a small change, following the centroids whatever their order', () => {
    const before = nameClusters(centroids, 3, sizes).map(({ name, centroid }) => ({
      name: `${name} (kept)`,
      centroid,
    }));
    const order = [2, 0, 3, 1];
    const moved = Float64Array.from(order.flatMap((c) => [0, 1, 2].map((j) => centroids[c * 3 + j] + 0.08)));
    const after = nameClusters(
      moved,
      3,
      order.map((c) => sizes[c]),
      before,
    );
    expect(after.map((cluster) => cluster.name)).toEqual(order.map((c) => before[c].name));
  });

  it('names afresh a cluster that moved too far, and the new clusters when k grows', () => {
    const before = nameClusters(centroids, 3, sizes);
    const changed = Float64Array.from([...centroids, 1.5, 1.5, 1.5]);
    changed[3] = -0.8; // cluster 1 moves 1.6 along recency: lapsed → recent
    const after = nameClusters(changed, 3, [...sizes, 10], before);
    expect(after.map((cluster) => cluster.name)).toEqual([
      before[0].name,
      'recent, infrequent, low spend',
      before[2].name,
      before[3].name,
      'lapsed, frequent, high spend',
    ]);
  });

  it('gives a fresh name " (2)" when a kept name already has it', () => {
    const before = [{ name: 'recent, frequent, high spend', centroid: [0.4, 0.4, 0.4] }];
    const after = nameClusters(Float64Array.of(0.45, 0.45, 0.45, -1, 1, 1), 3, [50, 60], before);
    expect(after.map((cluster) => cluster.name)).toEqual([
      'recent, frequent, high spend',
      'recent, frequent, high spend (2)',
    ]);
  });

  it('says what is wrong with the previous clusters or the dimensions', () => {
    expect(() => nameClusters(Float64Array.of(1, 2), 2, [5])).toThrow('dims must be 3, got 2');
    expect(() =>
      nameClusters(centroids, 3, sizes, [
        { name: 'a', centroid: [0, 0, 0] },
        { name: 'a', centroid: [1, 1, 1] },
      ]),
    ).toThrow('the previous clusters must have unique names');
    expect(() => nameClusters(centroids, 3, sizes, [{ name: 'a', centroid: [0, 0] }])).toThrow(
      'the previous cluster "a" needs a centroid of 3 finite z-scores',
    );
  });
});

describe('hungarian', () => {
  /** The least total cost over every way of pairing min(rows, columns) rows with distinct columns. */
  function bestByEnumeration(cost: number[][]): number {
    const columns = cost[0].length;
    const pairs = Math.min(cost.length, columns);
    let best = Infinity;
    const visit = (row: number, used: Set<number>, total: number): void => {
      if (row === cost.length) {
        if (used.size === pairs) best = Math.min(best, total);
        return;
      }
      visit(row + 1, used, total);
      for (let column = 0; column < columns; column += 1) {
        if (used.has(column)) continue;
        used.add(column);
        visit(row + 1, used, total + cost[row][column]);
        used.delete(column);
      }
    };
    visit(0, new Set(), 0);
    return best;
  }

  it.each([
    [5, 5],
    [4, 6],
    [6, 4],
    [7, 7],
  ])('finds the minimum-cost assignment of a random %i × %i matrix', (rows, columns) => {
    const random = new SeededRandom(rows * 10 + columns);
    const cost = Array.from({ length: rows }, () => Array.from({ length: columns }, () => random.next()));
    const match = hungarian(cost);
    const matched = match.filter((column) => column >= 0);
    expect(matched.length).toBe(Math.min(rows, columns));
    expect(new Set(matched).size).toBe(matched.length);
    const total = match.reduce((sum, column, row) => sum + (column >= 0 ? cost[row][column] : 0), 0);
    expect(total).toBeCloseTo(bestByEnumeration(cost), 12);
  });
});
