/**
 * Customer clusters: k-means on the standardised RFM features (docs/models.md, Clusters).
 *
 * Pure: typed arrays in, typed arrays out; the heavy steps (Lloyd's iterations, the silhouette's distance
 * blocks) run on whatever TensorFlow.js backend the caller set. Every fit is deterministic for its seed.
 */
import * as tf from '@tensorflow/tfjs';
import { SeededRandom } from './random';

/** The order of the features everywhere in this module. */
export const RFM_FEATURES = ['recency', 'frequency', 'monetary'] as const;

/** Silhouette sample size when there are more points than this (as scikit-learn's `sample_size`). */
export const DEFAULT_SILHOUETTE_SAMPLE = 10_000;

/** A centroid z-score above this is the dimension's "high" word, below its negative the "low" word. */
export const NAME_Z_THRESHOLD = 0.5;

/** A previous run's name is kept when its matched centroid moved less than this (Euclidean, z units). */
export const NAME_KEEP_DISTANCE = 0.3;

const DEFAULT_RESTARTS = 10;
const DEFAULT_MAX_ITERATIONS = 300;
const DEFAULT_TOLERANCE = 1e-4;
/** Above this many points, each start first converges on a sample of this many (see KMeansOptions). */
export const DEFAULT_WARM_START_SAMPLE = 10_000;
const WARM_START_STREAM = 0x3a7;
/** Upper bound on the elements of one distance block, so memory stays flat as n grows. */
const BLOCK_ELEMENTS = 1 << 22;

/**
 * z-scores of log1p(recency), log1p(frequency), log1p(max(monetary, 0)), n×3 row-major.
 *
 * Monetary (net revenue) is ≤ 0 for a customer whose returns match or exceed their purchases; it is
 * clamped at 0 before log1p, so all such customers share the lowest spend value. The standard deviation
 * is the population one (as scikit-learn's StandardScaler); a dimension with no spread gets std 1.
 */
export function standardiseRfm(
  recency: Float64Array,
  frequency: Float64Array,
  monetary: Float64Array,
): { features: Float32Array; mean: number[]; std: number[] } {
  const n = recency.length;
  if (frequency.length !== n || monetary.length !== n) {
    throw new Error(
      `standardiseRfm needs one value per customer in each array: recency has ${n}, frequency ${frequency.length}, monetary ${monetary.length}`,
    );
  }
  if (n === 0) throw new Error('standardiseRfm needs at least one customer');
  const columns = [recency, frequency, monetary];
  const features = new Float32Array(n * 3);
  const mean: number[] = [];
  const std: number[] = [];
  columns.forEach((column, dim) => {
    const name = RFM_FEATURES[dim];
    const logged = new Float64Array(n);
    for (let i = 0; i < n; i += 1) {
      const value = column[i];
      if (!Number.isFinite(value))
        throw new Error(`${name} of customer at index ${i} is ${value}, not a finite number`);
      if (dim < 2 && value < 0) {
        throw new Error(`${name} of customer at index ${i} is ${value}; ${name} cannot be negative`);
      }
      logged[i] = Math.log1p(Math.max(value, 0));
    }
    let sum = 0;
    for (let i = 0; i < n; i += 1) sum += logged[i];
    const m = sum / n;
    let squares = 0;
    for (let i = 0; i < n; i += 1) squares += (logged[i] - m) ** 2;
    const s = Math.sqrt(squares / n) || 1;
    for (let i = 0; i < n; i += 1) features[i * 3 + dim] = (logged[i] - m) / s;
    mean.push(m);
    std.push(s);
  });
  return { features, mean, std };
}

export interface KMeansOptions {
  seed: number;
  /** Independent k-means++ starts; the one with the lowest inertia wins (default 10, as scikit-learn). */
  restarts?: number;
  /** Lloyd iterations per start (default 300, as scikit-learn). */
  maxIterations?: number;
  /** A start has converged when its centroids moved (sum of squares) less than tolerance × the mean feature variance (default 1e-4, as scikit-learn). */
  tolerance?: number;
  /**
   * With more points than this (default 10,000), each start is seeded and first iterated to convergence
   * on a sample of this many points (drawn by the seed), then iterated on all points from there: the
   * same fixed point of Lloyd's iterations on all points, in far fewer full passes. 0 turns it off.
   */
  warmStartSample?: number;
}

export interface KMeansFit {
  /** k×dims row-major; cluster 0 is the largest. */
  centroids: Float64Array;
  assignments: Int32Array;
  /** Sum over points of the squared distance to their centroid. */
  inertia: number;
  /** Lloyd iterations of the winning start on all points (after its warm start on a sample, if any). */
  iterations: number;
}

/**
 * k-means: greedy k-means++ seeding (as scikit-learn: 2 + ⌊ln k⌋ candidates per centre), then Lloyd's
 * iterations, `restarts` times; all starts iterate together on the backend as one batch. Clusters are
 * numbered by size, largest first (ties by first appearance). An empty cluster keeps its previous centroid.
 */
export function kMeans(features: Float32Array, dims: number, k: number, options: KMeansOptions): KMeansFit {
  const n = pointCount(features, dims);
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new Error(`k-means needs an integer k between 1 and the number of points (${n}), got ${k}`);
  }
  const restarts = positiveInteger(options.restarts ?? DEFAULT_RESTARTS, 'restarts');
  const maxIterations = positiveInteger(options.maxIterations ?? DEFAULT_MAX_ITERATIONS, 'maxIterations');
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  if (!(tolerance >= 0)) throw new Error(`k-means tolerance must be ≥ 0, got ${tolerance}`);
  requireSeed(options.seed);
  requireFinite(features);

  const warmStartSample = options.warmStartSample ?? DEFAULT_WARM_START_SAMPLE;
  if (!Number.isInteger(warmStartSample) || warmStartSample < 0) {
    throw new Error(`warmStartSample must be an integer ≥ 0 (0: none), got ${warmStartSample}`);
  }
  const shiftLimit = tolerance * meanVariance(features, dims);
  const lloyd = { k, dims, restarts, maxIterations, shiftLimit };

  let starts: Float32Array;
  if (warmStartSample > 0 && n > warmStartSample && warmStartSample >= k) {
    const sample = gatherRows(
      features,
      dims,
      new SeededRandom(options.seed, WARM_START_STREAM).sampleIndices(n, warmStartSample),
    );
    starts = lloydIterations(sample, seedStarts(sample, lloyd, options.seed), lloyd).centroids;
  } else {
    starts = seedStarts(features, lloyd, options.seed);
  }
  const { centroids: found, iterations } = lloydIterations(features, starts, lloyd);

  const blocks = pointBlocks(features, dims, restarts * k);
  const all = tf.tensor2d(found, [restarts * k, dims]);
  let perStart: Float32Array;
  try {
    const inertias = tf.tidy(() => {
      const columns = distanceColumns(all);
      return tf.addN(blocks.map((block) => tf.sum(nearestDistances(block, columns, restarts, k), 0)));
    });
    perStart = inertias.dataSync() as Float32Array;
    inertias.dispose();
  } finally {
    all.dispose();
    disposeBlocks(blocks);
  }
  let best = 0;
  for (let r = 1; r < restarts; r += 1) if (perStart[r] < perStart[best]) best = r;
  const centroids = Float64Array.from(found.subarray(best * k * dims, (best + 1) * k * dims));
  const assignments = assignTensorFlow(features, dims, centroids, k);
  return orderBySize(features, dims, k, centroids, assignments, iterations[best]);
}

interface LloydSettings {
  k: number;
  dims: number;
  restarts: number;
  maxIterations: number;
  shiftLimit: number;
}

/** One greedy k-means++ start per restart, restart r drawing from stream r of the seed. */
function seedStarts(features: Float32Array, settings: LloydSettings, seed: number): Float32Array {
  const { k, dims, restarts } = settings;
  const starts = new Float32Array(restarts * k * dims);
  for (let r = 0; r < restarts; r += 1) {
    starts.set(kMeansPlusPlus(features, dims, k, new SeededRandom(seed, r)), r * k * dims);
  }
  return starts;
}

/**
 * Lloyd's iterations from every start at once: assign each point to its nearest centroid, move each
 * centroid to the mean of its points, until the centroids move (sum of squares) at most `shiftLimit`.
 * Starts that have converged leave the batch, so the batch shrinks as the fit goes on.
 */
function lloydIterations(
  features: Float32Array,
  starts: Float32Array,
  settings: LloydSettings,
): { centroids: Float32Array; iterations: Int32Array } {
  const { k, dims, restarts, maxIterations, shiftLimit } = settings;
  const found = Float32Array.from(starts);
  const iterations = new Int32Array(restarts);
  const blocks = pointBlocks(features, dims, restarts * k);
  try {
    let running = Array.from({ length: restarts }, (_, r) => r);
    for (let iteration = 1; iteration <= maxIterations && running.length > 0; iteration += 1) {
      const batch = running.length;
      const current = tf.tensor2d(gatherStarts(found, running, k * dims), [batch * k, dims]);
      const [next, shifts] = tf.tidy(() => {
        const { sums, counts } = clusterSums(blocks, current, batch, k, dims);
        const means = tf.where(tf.greater(counts, 0), tf.div(sums, tf.maximum(counts, 1)), current);
        const moved = tf.sum(tf.reshape(tf.squaredDifference(means, current), [batch, k * dims]), 1);
        return [means, moved];
      });
      const shift = shifts.dataSync();
      const moved = next.dataSync();
      tf.dispose([current, next, shifts]);
      running.forEach((r, position) => {
        found.set(moved.subarray(position * k * dims, (position + 1) * k * dims), r * k * dims);
        iterations[r] = iteration;
      });
      running = running.filter((_, position) => shift[position] > shiftLimit);
    }
  } finally {
    disposeBlocks(blocks);
  }
  return { centroids: found, iterations };
}

/**
 * Each point's nearest centroid by one pass of the backend (the same distance kernel as kMeans uses).
 */
export function assignTensorFlow(
  features: Float32Array,
  dims: number,
  centroids: Float64Array,
  k: number,
): Int32Array {
  const n = pointCount(features, dims);
  requireCentroids(centroids, dims, k);
  const assignments = new Int32Array(n);
  const blocks = pointBlocks(features, dims, k);
  const columns = tf.tidy(() => distanceColumns(tf.tensor2d(Float32Array.from(centroids), [k, dims])));
  try {
    let offset = 0;
    for (const block of blocks) {
      const labels = tf.tidy(() => tf.reshape(nearest(block, columns, 1, k), [-1]));
      const values = labels.dataSync();
      labels.dispose();
      assignments.set(values, offset);
      offset += values.length;
    }
  } finally {
    columns.dispose();
    disposeBlocks(blocks);
  }
  return assignments;
}

/** Each point's nearest centroid in plain JavaScript: the reference the benchmark times next to assignTensorFlow. */
export function assignPlainJs(
  features: Float32Array,
  dims: number,
  centroids: Float64Array,
  k: number,
): Int32Array {
  const n = pointCount(features, dims);
  requireCentroids(centroids, dims, k);
  const assignments = new Int32Array(n);
  for (let i = 0; i < n; i += 1) {
    let bestCluster = 0;
    let bestDistance = Infinity;
    for (let c = 0; c < k; c += 1) {
      let distance = 0;
      for (let j = 0; j < dims; j += 1) {
        const difference = features[i * dims + j] - centroids[c * dims + j];
        distance += difference * difference;
      }
      if (distance < bestDistance) {
        bestDistance = distance;
        bestCluster = c;
      }
    }
    assignments[i] = bestCluster;
  }
  return assignments;
}

/**
 * The mean silhouette coefficient (Rousseeuw 1987): per point (b − a) / max(a, b), a the mean distance to
 * the rest of its cluster, b the mean distance to the nearest other cluster; 0 for a point alone in its
 * cluster. With more than `sampleSize` points (default 10,000) it is computed on a sample of that many
 * points drawn without replacement by the seed — distances and means within the sample, as scikit-learn's
 * `silhouette_score(sample_size=…)`. Distance blocks are computed on the backend, a few rows at a time.
 */
export function silhouetteScore(
  features: Float32Array,
  dims: number,
  assignments: Int32Array,
  k: number,
  options: { sampleSize?: number; seed: number },
): number {
  return silhouetteScores(features, dims, [{ assignments, k }], options)[0];
}

/**
 * silhouetteScore for several clusterings of the same points at once: one sample (the same for the
 * same seed), its distance blocks computed once and summed per cluster of every clustering.
 */
export function silhouetteScores(
  features: Float32Array,
  dims: number,
  clusterings: { assignments: Int32Array; k: number }[],
  options: { sampleSize?: number; seed: number },
): number[] {
  const n = pointCount(features, dims);
  const sampleSize = positiveInteger(options.sampleSize ?? DEFAULT_SILHOUETTE_SAMPLE, 'sampleSize');
  requireSeed(options.seed);
  const chosen =
    n > sampleSize ? new SeededRandom(options.seed, 0x5117).sampleIndices(n, sampleSize).sort() : null;
  const m = chosen ? chosen.length : n;
  const sample = new Float32Array(m * dims);
  for (let s = 0; s < m; s += 1) {
    const i = chosen ? chosen[s] : s;
    sample.set(features.subarray(i * dims, (i + 1) * dims), s * dims);
  }
  // Every clustering's clusters side by side: clustering c's cluster j is column offsets[c] + j.
  const offsets: number[] = [];
  let columns = 0;
  const sampled = clusterings.map(({ assignments, k }) => {
    if (assignments.length !== n) {
      throw new Error(
        `silhouetteScore needs one assignment per point: ${n} points, ${assignments.length} assignments`,
      );
    }
    const labels = new Int32Array(m);
    const sizes = new Int32Array(k);
    for (let s = 0; s < m; s += 1) {
      const i = chosen ? chosen[s] : s;
      const label = assignments[i];
      if (!Number.isInteger(label) || label < 0 || label >= k) {
        throw new Error(`assignment of point ${i} is ${label}, outside clusters 0..${k - 1}`);
      }
      labels[s] = label;
      sizes[label] += 1;
    }
    const present = sizes.filter((size) => size > 0).length;
    if (present < 2 || present > m - 1) {
      throw new Error(
        `the silhouette needs between 2 and ${m - 1} non-empty clusters among the ${m} points it uses, got ${present}`,
      );
    }
    offsets.push(columns);
    columns += k;
    return { labels, sizes };
  });
  const memberOf = new Float32Array(m * columns);
  sampled.forEach(({ labels }, c) => {
    for (let s = 0; s < m; s += 1) memberOf[s * columns + offsets[c] + labels[s]] = 1;
  });

  const rowsPerBlock = Math.max(1, Math.floor(BLOCK_ELEMENTS / m));
  const points = tf.tensor2d(sample, [m, dims]);
  const augmentedColumns = tf.tidy(() =>
    tf.transpose(tf.concat([tf.mul(points, -2), tf.sum(tf.square(points), 1, true), tf.ones([m, 1])], 1)),
  );
  const membership = tf.tensor2d(memberOf, [m, columns]);
  const totals = new Array<number>(clusterings.length).fill(0);
  try {
    for (let start = 0; start < m; start += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, m - start);
      const clusterDistances = tf.tidy(() => {
        const block = points.slice([start, 0], [rows, dims]);
        const augmentedRows = tf.concat([block, tf.ones([rows, 1]), tf.sum(tf.square(block), 1, true)], 1);
        const distances = tf.sqrt(tf.relu(tf.matMul(augmentedRows, augmentedColumns)));
        return tf.matMul(distances, membership);
      });
      const sums = clusterDistances.dataSync() as Float32Array;
      clusterDistances.dispose();
      sampled.forEach(({ labels, sizes }, c) => {
        const k = clusterings[c].k;
        for (let row = 0; row < rows; row += 1) {
          const from = row * columns + offsets[c];
          totals[c] += pointSilhouette(sums.subarray(from, from + k), labels[start + row], sizes);
        }
      });
    }
  } finally {
    tf.dispose([points, augmentedColumns, membership]);
  }
  return totals.map((total) => total / m);
}

function pointSilhouette(distanceSums: Float32Array, own: number, sizes: Int32Array): number {
  if (sizes[own] === 1) return 0;
  const a = distanceSums[own] / (sizes[own] - 1);
  let b = Infinity;
  for (let c = 0; c < sizes.length; c += 1) {
    if (c !== own && sizes[c] > 0) b = Math.min(b, distanceSums[c] / sizes[c]);
  }
  const scale = Math.max(a, b);
  return scale > 0 ? (b - a) / scale : 0;
}

export interface ClusterCountChoice {
  k: number;
  /** Every k tried, in order, with its best inertia and its silhouette. */
  candidates: { k: number; inertia: number; silhouette: number }[];
  best: KMeansFit;
}

/**
 * Fits k-means for every k in kMin..kMax (default 2..10) and keeps the k with the highest silhouette
 * (the smaller k on a tie). k goes no higher than the number of distinct points (a fit needs that many
 * different centres) nor than n − 1 (the silhouette needs a point more than clusters). The silhouettes
 * of all k are computed together, on one sample, after the last fit; onProgress follows each fit.
 */
export function chooseClusterCount(
  features: Float32Array,
  dims: number,
  options: {
    kMin?: number;
    kMax?: number;
    seed: number;
    restarts?: number;
    /** Passed to kMeans (default there: 10,000). */
    warmStartSample?: number;
    onProgress?: (k: number) => void;
  },
): ClusterCountChoice {
  const n = pointCount(features, dims);
  const kMin = options.kMin ?? 2;
  const kMax = options.kMax ?? 10;
  if (!Number.isInteger(kMin) || !Number.isInteger(kMax) || kMin < 2 || kMax < kMin) {
    throw new Error(`chooseClusterCount needs integers 2 ≤ kMin ≤ kMax, got kMin ${kMin}, kMax ${kMax}`);
  }
  const distinct = distinctPoints(features, dims);
  const highest = Math.min(kMax, distinct, n - 1);
  if (highest < kMin) {
    throw new Error(
      `choosing between ${kMin} and ${kMax} clusters needs at least ${kMin + 1} customers with ${kMin} different feature values; there are ${n} customers with ${distinct} different values`,
    );
  }
  const fits: KMeansFit[] = [];
  for (let k = kMin; k <= highest; k += 1) {
    const { seed, restarts, warmStartSample } = options;
    fits.push(kMeans(features, dims, k, { seed, restarts, warmStartSample }));
    options.onProgress?.(k);
  }
  const silhouettes = silhouetteScores(
    features,
    dims,
    fits.map((fit, index) => ({ assignments: fit.assignments, k: kMin + index })),
    { seed: options.seed },
  );
  let chosen = 0;
  silhouettes.forEach((silhouette, index) => {
    if (silhouette > silhouettes[chosen]) chosen = index;
  });
  return {
    k: kMin + chosen,
    candidates: fits.map((fit, index) => ({
      k: kMin + index,
      inertia: fit.inertia,
      silhouette: silhouettes[index],
    })),
    best: fits[chosen],
  };
}

export interface NamedCluster {
  cluster: number;
  name: string;
  /** The centroid in z units of the standardised features. */
  centroid: number[];
  size: number;
}

const WORDS: readonly { low: string; middle: string; high: string }[] = [
  { low: 'recent', middle: 'lapsing', high: 'lapsed' },
  { low: 'infrequent', middle: 'occasional', high: 'frequent' },
  { low: 'low spend', middle: 'mid spend', high: 'high spend' },
];

/** A cluster's name from its centroid: one word per dimension (recency, frequency, monetary). */
export function describeCentroid(centroid: ArrayLike<number>): string {
  return WORDS.map((words, dim) => {
    const z = centroid[dim];
    if (z > NAME_Z_THRESHOLD) return words.high;
    if (z < -NAME_Z_THRESHOLD) return words.low;
    return words.middle;
  }).join(', ');
}

/**
 * Names the clusters of one run (dims must be 3: recency, frequency, monetary, in z units).
 *
 * Given the previous run's clusters, new and old are paired by the Hungarian algorithm (minimum total
 * Euclidean centroid distance; with different k, the extra clusters stay unpaired) and a new cluster keeps
 * its partner's name when the two centroids are less than NAME_KEEP_DISTANCE apart. The others are named
 * by describeCentroid, largest cluster first; a name already taken in this run gets " (2)", " (3)", ….
 */
export function nameClusters(
  centroids: Float64Array,
  dims: number,
  sizes: number[],
  previous?: { name: string; centroid: number[] }[],
): NamedCluster[] {
  if (dims !== RFM_FEATURES.length) {
    throw new Error(
      `nameClusters names clusters of recency, frequency and monetary: dims must be 3, got ${dims}`,
    );
  }
  const k = sizes.length;
  requireCentroids(centroids, dims, k);
  const clusters: NamedCluster[] = sizes.map((size, cluster) => ({
    cluster,
    name: '',
    centroid: Array.from(centroids.subarray(cluster * dims, (cluster + 1) * dims)),
    size,
  }));
  const taken = new Set<string>();
  const old = previous ?? [];
  if (new Set(old.map((cluster) => cluster.name)).size !== old.length) {
    throw new Error('the previous clusters must have unique names');
  }
  for (const cluster of old) {
    if (cluster.centroid.length !== dims || !cluster.centroid.every(Number.isFinite)) {
      throw new Error(`the previous cluster "${cluster.name}" needs a centroid of ${dims} finite z-scores`);
    }
  }
  if (old.length > 0 && k > 0) {
    const cost = clusters.map((cluster) => old.map((before) => euclidean(cluster.centroid, before.centroid)));
    hungarian(cost).forEach((partner, cluster) => {
      if (partner >= 0 && cost[cluster][partner] < NAME_KEEP_DISTANCE) {
        clusters[cluster].name = old[partner].name;
        taken.add(old[partner].name);
      }
    });
  }
  const unnamed = clusters
    .filter((cluster) => cluster.name === '')
    .sort((a, b) => b.size - a.size || a.cluster - b.cluster);
  for (const cluster of unnamed) {
    const base = describeCentroid(cluster.centroid);
    let name = base;
    for (let copy = 2; taken.has(name); copy += 1) name = `${base} (${copy})`;
    cluster.name = name;
    taken.add(name);
  }
  return clusters;
}

/**
 * The assignment of rows to columns with minimum total cost (the Hungarian algorithm, O(n²m), after the
 * e-maxx formulation with potentials). Returns each row's column, or -1 for rows left over when there
 * are more rows than columns.
 */
export function hungarian(cost: number[][]): number[] {
  const rows = cost.length;
  const columns = rows > 0 ? cost[0].length : 0;
  if (rows > columns) {
    const transposed = Array.from({ length: columns }, (_, c) => cost.map((row) => row[c]));
    const columnToRow = hungarian(transposed);
    const rowToColumn = new Array<number>(rows).fill(-1);
    columnToRow.forEach((row, column) => {
      rowToColumn[row] = column;
    });
    return rowToColumn;
  }
  // 1-based arrays; column 0 is the virtual start.
  const u = new Array<number>(rows + 1).fill(0);
  const v = new Array<number>(columns + 1).fill(0);
  const rowOfColumn = new Array<number>(columns + 1).fill(0);
  const way = new Array<number>(columns + 1).fill(0);
  for (let row = 1; row <= rows; row += 1) {
    rowOfColumn[0] = row;
    let column0 = 0;
    const minima = new Array<number>(columns + 1).fill(Infinity);
    const used = new Array<boolean>(columns + 1).fill(false);
    do {
      used[column0] = true;
      const row0 = rowOfColumn[column0];
      let delta = Infinity;
      let column1 = 0;
      for (let column = 1; column <= columns; column += 1) {
        if (used[column]) continue;
        const reduced = cost[row0 - 1][column - 1] - u[row0] - v[column];
        if (reduced < minima[column]) {
          minima[column] = reduced;
          way[column] = column0;
        }
        if (minima[column] < delta) {
          delta = minima[column];
          column1 = column;
        }
      }
      for (let column = 0; column <= columns; column += 1) {
        if (used[column]) {
          u[rowOfColumn[column]] += delta;
          v[column] -= delta;
        } else {
          minima[column] -= delta;
        }
      }
      column0 = column1;
    } while (rowOfColumn[column0] !== 0);
    do {
      const column1 = way[column0];
      rowOfColumn[column0] = rowOfColumn[column1];
      column0 = column1;
    } while (column0 !== 0);
  }
  const rowToColumn = new Array<number>(rows).fill(-1);
  for (let column = 1; column <= columns; column += 1) {
    if (rowOfColumn[column] > 0) rowToColumn[rowOfColumn[column] - 1] = column - 1;
  }
  return rowToColumn;
}

/**
 * The points as backend tensors in blocks of rows, each augmented for the distance matmul: [x, 1] so
 * that [x, 1]·[−2c, |c|²]ᵀ = |x − c|² − |x|², enough to find the nearest centroid, plus |x|² per row.
 */
interface PointBlock {
  values: Float32Array;
  rows: number;
  augmented: tf.Tensor2D;
  squaredNorms: tf.Tensor2D;
  /** Each point repeated once per start (point-major), for the batched centroid sums; built on demand. */
  repeated: { starts: number; points: tf.Tensor2D } | null;
}

function pointBlocks(features: Float32Array, dims: number, columns: number): PointBlock[] {
  const n = features.length / dims;
  const rowsPerBlock = Math.max(1, Math.floor(BLOCK_ELEMENTS / columns));
  const blocks: PointBlock[] = [];
  for (let start = 0; start < n; start += rowsPerBlock) {
    const rows = Math.min(rowsPerBlock, n - start);
    const values = features.subarray(start * dims, (start + rows) * dims);
    const [augmented, squaredNorms] = tf.tidy(() => {
      const points = tf.tensor2d(values, [rows, dims]);
      return [
        tf.concat([points, tf.ones([rows, 1])], 1) as tf.Tensor2D,
        tf.sum(tf.square(points), 1, true) as tf.Tensor2D,
      ];
    });
    blocks.push({ values, rows, augmented, squaredNorms, repeated: null });
  }
  return blocks;
}

function disposeBlocks(blocks: PointBlock[]): void {
  for (const block of blocks) {
    tf.dispose([block.augmented, block.squaredNorms]);
    block.repeated?.points.dispose();
  }
}

/** The block's points, each repeated `starts` times in a row: row i·starts + s is point i. */
function repeatedPoints(block: PointBlock, starts: number, dims: number): tf.Tensor2D {
  if (block.repeated?.starts !== starts) {
    block.repeated?.points.dispose();
    const copied = new Float32Array(block.rows * starts * dims);
    let to = 0;
    for (let i = 0; i < block.rows; i += 1) {
      for (let s = 0; s < starts; s += 1) {
        for (let j = 0; j < dims; j += 1) copied[to++] = block.values[i * dims + j];
      }
    }
    block.repeated = { starts, points: tf.keep(tf.tensor2d(copied, [block.rows * starts, dims])) };
  }
  return block.repeated.points;
}

/** The distance columns for `starts` sets of k centroids stacked (starts·k × dims): [−2c, |c|²]ᵀ. */
function distanceColumns(centroids: tf.Tensor2D): tf.Tensor2D {
  return tf.transpose(
    tf.concat([tf.mul(centroids, -2), tf.sum(tf.square(centroids), 1, true)], 1),
  ) as tf.Tensor2D;
}

/** For each point and each set of centroids, the nearest centroid of the set (rows × starts). */
function nearest(block: PointBlock, columns: tf.Tensor2D, starts: number, k: number): tf.Tensor2D {
  return tf.argMin(
    tf.reshape(tf.matMul(block.augmented, columns), [block.rows, starts, k]),
    2,
  ) as tf.Tensor2D;
}

/** For each point and each set of centroids, the squared distance to the nearest centroid of the set. */
function nearestDistances(block: PointBlock, columns: tf.Tensor2D, starts: number, k: number): tf.Tensor2D {
  const partial = tf.reshape(tf.matMul(block.augmented, columns), [block.rows, starts, k]);
  return tf.relu(tf.add(tf.min(partial, 2), block.squaredNorms)) as tf.Tensor2D;
}

/** Per set of centroids: the sum and the count of the points nearest to each centroid. */
function clusterSums(
  blocks: PointBlock[],
  centroids: tf.Tensor2D,
  starts: number,
  k: number,
  dims: number,
): { sums: tf.Tensor2D; counts: tf.Tensor2D } {
  const columns = distanceColumns(centroids);
  const offsets = tf.range(0, starts * k, k, 'int32');
  const sums: tf.Tensor2D[] = [];
  const counts: tf.Tensor1D[] = [];
  for (const block of blocks) {
    const slots: tf.Tensor1D = tf.reshape(tf.add(nearest(block, columns, starts, k), offsets), [
      block.rows * starts,
    ]);
    const points = repeatedPoints(block, starts, dims);
    sums.push(tf.scatterND(tf.expandDims(slots, 1), points, [starts * k, dims]));
    // scatterND adds the updates of repeated indices; tfjs-node has no DenseBincount kernel.
    counts.push(tf.scatterND(tf.expandDims(slots, 1), tf.ones([block.rows * starts]), [starts * k]));
  }
  return { sums: tf.addN(sums), counts: tf.reshape(tf.addN(counts), [starts * k, 1]) };
}

/** The given rows of a row-major matrix, in that order. */
function gatherRows(features: Float32Array, dims: number, rows: Int32Array): Float32Array {
  const gathered = new Float32Array(rows.length * dims);
  rows.forEach((row, position) =>
    gathered.set(features.subarray(row * dims, (row + 1) * dims), position * dims),
  );
  return gathered;
}

/** The concatenated slices of `values` (each `width` long) for the given starts. */
function gatherStarts(values: Float32Array, starts: number[], width: number): Float32Array {
  const gathered = new Float32Array(starts.length * width);
  starts.forEach((start, position) =>
    gathered.set(values.subarray(start * width, (start + 1) * width), position * width),
  );
  return gathered;
}

/**
 * Greedy k-means++ (Arthur & Vassilvitskii 2007, with scikit-learn's 2 + ⌊ln k⌋ local trials): the first
 * centre uniformly, each next one the best of a few candidates drawn with probability ∝ squared distance
 * to the nearest centre so far, "best" meaning the lowest resulting potential.
 */
function kMeansPlusPlus(features: Float32Array, dims: number, k: number, random: SeededRandom): Float32Array {
  const n = features.length / dims;
  const trials = 2 + Math.floor(Math.log(k));
  const centres = new Float32Array(k * dims);
  const first = random.below(n);
  centres.set(features.subarray(first * dims, (first + 1) * dims), 0);
  let closest = new Float64Array(n);
  let best = new Float64Array(n);
  let scratch = new Float64Array(n);
  let potential = squaredDistancesInto(closest, features, dims, first, null);
  const cumulative = new Float64Array(n);
  for (let centre = 1; centre < k; centre += 1) {
    let running = 0;
    for (let i = 0; i < n; i += 1) {
      running += closest[i];
      cumulative[i] = running;
    }
    let bestPoint = -1;
    let bestPotential = Infinity;
    for (let trial = 0; trial < trials; trial += 1) {
      const candidate = potential > 0 ? upperBound(cumulative, random.next() * running) : random.below(n);
      const candidatePotential = squaredDistancesInto(scratch, features, dims, candidate, closest);
      if (candidatePotential < bestPotential) {
        bestPotential = candidatePotential;
        bestPoint = candidate;
        [best, scratch] = [scratch, best];
      }
    }
    centres.set(features.subarray(bestPoint * dims, (bestPoint + 1) * dims), centre * dims);
    [closest, best] = [best, closest];
    potential = bestPotential;
  }
  return centres;
}

/**
 * Writes each point's squared distance to point `from` (or, given `cap`, the smaller of that and
 * `cap`'s value) into `out`, and returns their sum.
 */
function squaredDistancesInto(
  out: Float64Array,
  features: Float32Array,
  dims: number,
  from: number,
  cap: Float64Array | null,
): number {
  const n = features.length / dims;
  const origin = Array.from(features.subarray(from * dims, (from + 1) * dims));
  let total = 0;
  for (let i = 0, offset = 0; i < n; i += 1) {
    let sum = 0;
    for (let j = 0; j < dims; j += 1, offset += 1) {
      const difference = features[offset] - origin[j];
      sum += difference * difference;
    }
    if (cap !== null && cap[i] < sum) sum = cap[i];
    out[i] = sum;
    total += sum;
  }
  return total;
}

/** The first index whose cumulative value exceeds `target` (clamped to the last index). */
function upperBound(cumulative: Float64Array, target: number): number {
  let low = 0;
  let high = cumulative.length - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (cumulative[middle] > target) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** Renumbers clusters by size (largest first) and computes the inertia in double precision. */
function orderBySize(
  features: Float32Array,
  dims: number,
  k: number,
  centroids: Float64Array,
  assignments: Int32Array,
  iterations: number,
): KMeansFit {
  const sizes = new Array<number>(k).fill(0);
  for (const cluster of assignments) sizes[cluster] += 1;
  const order = Array.from({ length: k }, (_, c) => c).sort((a, b) => sizes[b] - sizes[a] || a - b);
  const renumber = new Int32Array(k);
  order.forEach((cluster, position) => {
    renumber[cluster] = position;
  });
  const ordered = new Float64Array(k * dims);
  order.forEach((cluster, position) => {
    ordered.set(centroids.subarray(cluster * dims, (cluster + 1) * dims), position * dims);
  });
  const relabelled = new Int32Array(assignments.length);
  let inertia = 0;
  for (let i = 0; i < assignments.length; i += 1) {
    const cluster = renumber[assignments[i]];
    relabelled[i] = cluster;
    for (let j = 0; j < dims; j += 1) inertia += (features[i * dims + j] - ordered[cluster * dims + j]) ** 2;
  }
  return { centroids: ordered, assignments: relabelled, inertia, iterations };
}

function pointCount(features: Float32Array, dims: number): number {
  if (!Number.isInteger(dims) || dims < 1) throw new Error(`dims must be a positive integer, got ${dims}`);
  if (features.length === 0 || features.length % dims !== 0) {
    throw new Error(`features must hold n×${dims} values for n ≥ 1 points, got ${features.length} values`);
  }
  return features.length / dims;
}

function requireFinite(features: Float32Array): void {
  const bad = features.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) throw new Error(`feature value at index ${bad} is ${features[bad]}, not a finite number`);
}

function requireCentroids(centroids: Float64Array, dims: number, k: number): void {
  if (!Number.isInteger(k) || k < 1 || centroids.length !== k * dims) {
    throw new Error(`centroids must hold k×${dims} values for k = ${k}, got ${centroids.length} values`);
  }
}

function requireSeed(seed: number): void {
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

function meanVariance(features: Float32Array, dims: number): number {
  const n = features.length / dims;
  let total = 0;
  for (let j = 0; j < dims; j += 1) {
    let sum = 0;
    for (let i = 0; i < n; i += 1) sum += features[i * dims + j];
    const mean = sum / n;
    let squares = 0;
    for (let i = 0; i < n; i += 1) squares += (features[i * dims + j] - mean) ** 2;
    total += squares / n;
  }
  return total / dims;
}

function distinctPoints(features: Float32Array, dims: number): number {
  const seen = new Set<string>();
  const n = features.length / dims;
  for (let i = 0; i < n; i += 1) seen.add(features.subarray(i * dims, (i + 1) * dims).join(','));
  return seen.size;
}

function euclidean(a: number[], b: number[]): number {
  return Math.sqrt(a.reduce((sum, value, j) => sum + (value - b[j]) ** 2, 0));
}
