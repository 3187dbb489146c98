/**
 * Product recommendations from implicit feedback (docs/models-recommendations.md has the exact
 * definitions): matrix factorisation by alternating least squares with confidence weights (Hu, Koren &
 * Volinsky 2008), item-to-item co-occurrence with cosine normalisation, popularity, the blend of the
 * three per customer, and HR@k / NDCG@k on a time split. Pure: customers and products are dense
 * indices 0..n−1, interactions are typed arrays; the activity maps ids and reads and writes the tables.
 */
import * as tf from '@tensorflow/tfjs';
import { SeededRandom } from './random';

/** A sparse matrix in compressed rows: row r holds `columns[start[r] .. start[r + 1])`. */
export interface SparseRows {
  rows: number;
  columns: number;
  start: Int32Array;
  index: Int32Array;
  value: Float32Array;
}

/**
 * Builds compressed rows from (row, column, value) triples; repeated (row, column) pairs are summed and
 * every row's columns come out sorted, so the result does not depend on the triples' order.
 */
export function sparseRows(
  rows: number,
  columns: number,
  row: ArrayLike<number>,
  column: ArrayLike<number>,
  value: ArrayLike<number>,
): SparseRows {
  const n = row.length;
  if (column.length !== n || value.length !== n)
    throw new Error(
      `sparseRows needs as many columns and values as rows, got ${n}, ${column.length}, ${value.length}`,
    );
  const counts = new Int32Array(rows + 1);
  for (let e = 0; e < n; e++) {
    const r = row[e];
    const c = column[e];
    if (!(r >= 0 && r < rows && c >= 0 && c < columns))
      throw new Error(`entry ${e} (${r}, ${c}) is outside the ${rows} × ${columns} matrix`);
    counts[r + 1]++;
  }
  for (let r = 0; r < rows; r++) counts[r + 1] += counts[r];
  const fill = counts.slice(0, rows);
  const order = new Int32Array(n);
  for (let e = 0; e < n; e++) order[fill[row[e]]++] = e;
  const start = new Int32Array(rows + 1);
  const index: number[] = [];
  const values: number[] = [];
  for (let r = 0; r < rows; r++) {
    const entries = Array.from(order.subarray(counts[r], counts[r + 1])).sort(
      (a, b) => column[a] - column[b] || a - b,
    );
    for (const e of entries) {
      if (index.length > start[r] && index[index.length - 1] === column[e])
        values[values.length - 1] += value[e];
      else {
        index.push(column[e]);
        values.push(value[e]);
      }
    }
    start[r + 1] = index.length;
  }
  return { rows, columns, start, index: Int32Array.from(index), value: Float32Array.from(values) };
}

/** The transpose, in compressed rows again. */
export function transpose(matrix: SparseRows): SparseRows {
  const row = new Int32Array(matrix.index.length);
  for (let r = 0; r < matrix.rows; r++) row.fill(r, matrix.start[r], matrix.start[r + 1]);
  return sparseRows(matrix.columns, matrix.rows, matrix.index, row, matrix.value);
}

export interface AlsOptions {
  /** Latent factors per customer and product. */
  factors: number;
  /** Alternations (customers then products is one). */
  iterations: number;
  /** λ, the ridge penalty on every factor vector. */
  regularization: number;
  /** α in the confidence c = 1 + α·w of an interaction of weight w. */
  alpha: number;
  /** Conjugate-gradient steps per vector and alternation, warm-started from the previous vector. */
  cgSteps: number;
  seed: number;
  /**
   * Start from these factors instead of random ones (same customers and products, same factors): the
   * activity's serving fit starts from its evaluation fit and needs fewer iterations.
   */
  warmStart?: AlsModel;
  onIteration?: (iteration: number) => void;
}

export interface AlsModel {
  factors: number;
  users: number;
  items: number;
  /** Row-major users × factors. */
  userFactors: Float32Array;
  /** Row-major items × factors. */
  itemFactors: Float32Array;
}

/**
 * YᵀY (k × k, row-major) of a row-major n × k matrix, on the TensorFlow.js backend. Yᵀ is an explicit
 * transpose, not matMul's transposeA: on the WASM backend a matMul with a transposed operand is about
 * 4× slower than the transpose and a plain one together (docs/models-recommendations.md).
 */
export function gramMatrix(matrix: Float32Array, rows: number, k: number): Float64Array {
  if (rows === 0) return new Float64Array(k * k);
  const product = tf.tidy(() => {
    const y = tf.tensor2d(matrix, [rows, k]);
    return tf.matMul(tf.transpose(y), y);
  });
  const values = Float64Array.from(product.dataSync());
  product.dispose();
  return values;
}

/**
 * One half-step of implicit ALS: every row of `solve` becomes the (approximate) minimiser of
 * Σ_j c_rj (p_rj − x·y_j)² + λ‖x‖², with p = 1 where the row has an interaction and c = 1 + α·w, by
 * `cgSteps` of conjugate gradient on (YᵀY + λI + Yᵀ(C_r − I)Y) x = Yᵀ C_r p, started from x itself.
 *
 * Batched: the rows take their conjugate-gradient steps together, in blocks of `BLOCK_ROWS`. Of a
 * block's A·P, the dense part P·(YᵀY + λI) is one matmul on the TensorFlow.js backend; the sparse part
 * Σ_j (c_rj − 1)(y_j·p_r) y_j, a dot and an axpy per interaction, is a loop over the block's
 * interactions (on both backends a gather and segment sum of the same were slower, see
 * docs/models-recommendations.md); the step sizes are per row. A row whose residual is 0 stays put.
 */
function alsHalfStep(
  interactions: SparseRows,
  solve: Float32Array,
  fixed: Float32Array,
  k: number,
  options: AlsOptions,
): void {
  const { start, index, value, rows } = interactions;
  const { alpha } = options;
  const gram = gramMatrix(fixed, interactions.columns, k);
  for (let d = 0; d < k; d++) gram[d * k + d] += options.regularization;
  const g = tf.tensor2d(Float32Array.from(gram), [k, k]);
  /**
   * out = V·G + Σ_j (c_rj − 1)(y_j·v_r) y_j for the block's rows `from` .. `from + n`; with `residual`,
   * out = Σ_j c_rj y_j − that, the residual b − A·V.
   */
  const times = (v: Float32Array, n: number, from: number, out: Float32Array, residual: boolean) => {
    const dense = tf.tidy(() => tf.matMul(tf.tensor2d(v.subarray(0, n * k), [n, k]), g));
    out.set(dense.dataSync());
    dense.dispose();
    for (let row = 0; row < n; row++) {
      const o = row * k;
      if (residual) for (let d = 0; d < k; d++) out[o + d] = -out[o + d];
      for (let e = start[from + row]; e < start[from + row + 1]; e++) {
        const y = index[e] * k;
        const extra = alpha * value[e];
        if (k % 4 === 0) {
          // Four at a time: about 1.5× faster in V8 than one at a time (see the bench's reference).
          let dot0 = 0;
          let dot1 = 0;
          let dot2 = 0;
          let dot3 = 0;
          for (let d = 0; d < k; d += 4) {
            dot0 += fixed[y + d] * v[o + d];
            dot1 += fixed[y + d + 1] * v[o + d + 1];
            dot2 += fixed[y + d + 2] * v[o + d + 2];
            dot3 += fixed[y + d + 3] * v[o + d + 3];
          }
          const dot = dot0 + dot1 + dot2 + dot3;
          const coefficient = residual ? 1 + extra - extra * dot : extra * dot;
          for (let d = 0; d < k; d += 4) {
            out[o + d] += coefficient * fixed[y + d];
            out[o + d + 1] += coefficient * fixed[y + d + 1];
            out[o + d + 2] += coefficient * fixed[y + d + 2];
            out[o + d + 3] += coefficient * fixed[y + d + 3];
          }
        } else {
          let dot = 0;
          for (let d = 0; d < k; d++) dot += fixed[y + d] * v[o + d];
          const coefficient = residual ? 1 + extra - extra * dot : extra * dot;
          for (let d = 0; d < k; d++) out[o + d] += coefficient * fixed[y + d];
        }
      }
    }
  };
  const size = Math.min(rows, BLOCK_ROWS) * k;
  const r = new Float32Array(size);
  const p = new Float32Array(size);
  const ap = new Float32Array(size);
  const rs = new Float64Array(BLOCK_ROWS);
  try {
    for (let from = 0; from < rows; from += BLOCK_ROWS) {
      const n = Math.min(BLOCK_ROWS, rows - from);
      const x = solve.subarray(from * k, (from + n) * k);
      times(x, n, from, r, true);
      for (let row = 0; row < n; row++) {
        const o = row * k;
        let sum = 0;
        for (let d = 0; d < k; d++) {
          p[o + d] = r[o + d];
          sum += r[o + d] * r[o + d];
        }
        rs[row] = sum;
      }
      for (let step = 0; step < options.cgSteps; step++) {
        times(p, n, from, ap, false);
        for (let row = 0; row < n; row++) {
          const rsOld = rs[row];
          if (!(rsOld > 1e-20)) continue;
          const o = row * k;
          let pAp = 0;
          for (let d = 0; d < k; d++) pAp += p[o + d] * ap[o + d];
          const stepSize = rsOld / pAp;
          let rsNew = 0;
          for (let d = 0; d < k; d++) {
            x[o + d] += stepSize * p[o + d];
            r[o + d] -= stepSize * ap[o + d];
            rsNew += r[o + d] * r[o + d];
          }
          const beta = rsNew / rsOld;
          for (let d = 0; d < k; d++) p[o + d] = r[o + d] + beta * p[o + d];
          rs[row] = rsNew;
        }
      }
    }
  } finally {
    g.dispose();
  }
}

/** Rows per block of a batched half-step. */
const BLOCK_ROWS = 8_192;

/**
 * Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) of a customers × products matrix
 * of interaction weights w ≥ 0. Factors start at N(0, 0.01²) from the seed (or from `warmStart`); the
 * same data, options and backend give the same factors.
 */
export function fitImplicitAls(interactions: SparseRows, options: AlsOptions): AlsModel {
  const k = options.factors;
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`factors must be a whole number ≥ 1, not ${k}`);
  const { rows: users, columns: items } = interactions;
  const start = options.warmStart;
  if (start && (start.factors !== k || start.users !== users || start.items !== items))
    throw new Error(
      `a warm start needs ${users} × ${items} with ${k} factors, not ${start.users} × ${start.items} with ${start.factors}`,
    );
  const userFactors = start ? Float32Array.from(start.userFactors) : new Float32Array(users * k);
  const itemFactors = start ? Float32Array.from(start.itemFactors) : new Float32Array(items * k);
  if (!start) {
    const random = new SeededRandom(options.seed);
    for (let i = 0; i < userFactors.length; i++) userFactors[i] = 0.01 * random.normal();
    for (let i = 0; i < itemFactors.length; i++) itemFactors[i] = 0.01 * random.normal();
  }
  const byItem = transpose(interactions);
  for (let iteration = 0; iteration < options.iterations; iteration++) {
    alsHalfStep(interactions, userFactors, itemFactors, k, options);
    alsHalfStep(byItem, itemFactors, userFactors, k, options);
    options.onIteration?.(iteration + 1);
  }
  return { factors: k, users, items, userFactors, itemFactors };
}

/** A ranked list: indices best first, with their scores. */
export interface Ranked {
  items: number[];
  scores: number[];
}

/** Keeps the `n` best (highest score, then lowest index) of the candidates offered to it. */
class TopN {
  readonly items: number[] = [];
  readonly scores: number[] = [];
  constructor(private readonly n: number) {}

  offer(item: number, score: number): void {
    const { items, scores, n } = this;
    if (n === 0) return;
    if (items.length === n) {
      const last = n - 1;
      if (score < scores[last] || (score === scores[last] && item > items[last])) return;
      items.pop();
      scores.pop();
    }
    let at = items.length;
    while (at > 0 && (scores[at - 1] < score || (scores[at - 1] === score && items[at - 1] > item))) at--;
    items.splice(at, 0, item);
    scores.splice(at, 0, score);
  }

  ranked(): Ranked {
    return { items: [...this.items], scores: [...this.scores] };
  }
}

/** What a customer must not be recommended: products bought recently, and products out of stock. */
export interface Exclusions {
  /** Per customer, the product indices to leave out (absent: none). */
  byUser?: (user: number) => ReadonlySet<number> | undefined;
  /** 1 where a product may be recommended at all (in stock); absent: all may. */
  allowed?: Uint8Array;
}

const isAllowed = (exclusions: Exclusions, excluded: ReadonlySet<number> | undefined, item: number) =>
  (exclusions.allowed === undefined || exclusions.allowed[item] === 1) && !excluded?.has(item);

/**
 * The `n` products with the highest x_u·y_j for each of `users`, leaving out each customer's
 * exclusions. Scores and the selection run in blocks of `block` customers on the TensorFlow.js
 * backend: products not allowed get −∞, and `topk` takes n plus the block's largest exclusion set, so
 * that n remain after the customer's own exclusions. Ties go to the lower index, as topk orders them.
 */
export function factorisationTopN(
  model: AlsModel,
  users: ArrayLike<number>,
  n: number,
  exclusions: Exclusions = {},
  block = 1024,
): Ranked[] {
  const k = model.factors;
  const out: Ranked[] = [];
  // k × items, transposed once: on WASM, x·Yᵀ with matMul's transposeB is about 10× slower.
  const items = tf.tidy(() => tf.transpose(tf.tensor2d(model.itemFactors, [model.items, k])));
  const mask = exclusions.allowed
    ? tf.tensor1d(Float32Array.from(exclusions.allowed, (a) => (a === 1 ? 0 : -Infinity)))
    : undefined;
  try {
    for (let from = 0; from < users.length; from += block) {
      const count = Math.min(block, users.length - from);
      const rows = new Float32Array(count * k);
      const excluded: (ReadonlySet<number> | undefined)[] = [];
      let largest = 0;
      for (let b = 0; b < count; b++) {
        const u = users[from + b];
        rows.set(model.userFactors.subarray(u * k, (u + 1) * k), b * k);
        excluded.push(exclusions.byUser?.(u));
        largest = Math.max(largest, excluded[b]?.size ?? 0);
      }
      const take = Math.min(model.items, n + largest);
      const [values, indices] = tf.tidy(() => {
        const scores = tf.matMul(tf.tensor2d(rows, [count, k]), items);
        const top = tf.topk(mask ? tf.add(scores, mask) : scores, take, true);
        return [top.values, top.indices];
      });
      const topValues = values.dataSync();
      const topIndices = indices.dataSync();
      tf.dispose([values, indices]);
      for (let b = 0; b < count; b++) {
        const ranked: Ranked = { items: [], scores: [] };
        for (let t = b * take; t < (b + 1) * take && ranked.items.length < n; t++) {
          const j = topIndices[t];
          if (topValues[t] === -Infinity || excluded[b]?.has(j)) continue;
          ranked.items.push(j);
          ranked.scores.push(topValues[t]);
        }
        out.push(ranked);
      }
    }
  } finally {
    tf.dispose(mask ? [items, mask] : [items]);
  }
  return out;
}

/** Each product's most similar products by co-occurrence, best first (compressed rows). */
export type RelatedProducts = SparseRows;

/**
 * Item-to-item co-occurrence over baskets (an order, or a session's products): c_ij is the number of
 * baskets holding both i and j, n_i the number holding i, and the similarity is the cosine
 * c_ij / √(n_i·n_j). Keeps each product's `neighbours` most similar (ties by index).
 */
export function cooccurrence(baskets: SparseRows, neighbours: number): RelatedProducts {
  const byItem = transpose(baskets);
  const items = baskets.columns;
  const basketCount = new Float64Array(items);
  for (let i = 0; i < items; i++) basketCount[i] = byItem.start[i + 1] - byItem.start[i];
  const counts = new Float64Array(items);
  const touched: number[] = [];
  const start = new Int32Array(items + 1);
  const index: number[] = [];
  const value: number[] = [];
  for (let i = 0; i < items; i++) {
    for (let e = byItem.start[i]; e < byItem.start[i + 1]; e++) {
      const basket = byItem.index[e];
      for (let f = baskets.start[basket]; f < baskets.start[basket + 1]; f++) {
        const j = baskets.index[f];
        if (j === i) continue;
        if (counts[j] === 0) touched.push(j);
        counts[j]++;
      }
    }
    const top = new TopN(neighbours);
    for (const j of touched) {
      top.offer(j, counts[j] / Math.sqrt(basketCount[i] * basketCount[j]));
      counts[j] = 0;
    }
    touched.length = 0;
    index.push(...top.items);
    value.push(...top.scores);
    start[i + 1] = index.length;
  }
  return {
    rows: items,
    columns: items,
    start,
    index: Int32Array.from(index),
    value: Float32Array.from(value),
  };
}

/**
 * Scores products for a set of context products (what a customer touched, or a cart): score_j =
 * Σ_i w_i · sim(i, j) over the context's related lists; the context itself is never recommended.
 */
export function cooccurrenceTopN(
  related: RelatedProducts,
  context: ArrayLike<number>,
  contextWeights: ArrayLike<number>,
  n: number,
  exclusions: Exclusions = {},
  excluded?: ReadonlySet<number>,
): Ranked {
  const scores = new Map<number, number>();
  const inContext = new Set<number>(Array.from(context));
  for (let c = 0; c < context.length; c++) {
    const i = context[c];
    for (let e = related.start[i]; e < related.start[i + 1]; e++) {
      const j = related.index[e];
      if (inContext.has(j)) continue;
      scores.set(j, (scores.get(j) ?? 0) + contextWeights[c] * related.value[e]);
    }
  }
  const top = new TopN(n);
  for (const [j, score] of scores) if (isAllowed(exclusions, excluded, j)) top.offer(j, score);
  return top.ranked();
}

/**
 * Products by popularity: `recentBuyers[j]` (distinct customers who bought j in the recent window) first,
 * then `allBuyers[j]` (distinct customers ever), then index. Returns the whole order, best first.
 */
export function popularityOrder(recentBuyers: ArrayLike<number>, allBuyers: ArrayLike<number>): number[] {
  const order = Array.from({ length: recentBuyers.length }, (_, j) => j);
  return order.sort((a, b) => recentBuyers[b] - recentBuyers[a] || allBuyers[b] - allBuyers[a] || a - b);
}

/** The first `n` of a popularity order that the exclusions allow. */
export function popularTopN(
  order: readonly number[],
  recentBuyers: ArrayLike<number>,
  n: number,
  exclusions: Exclusions = {},
  excluded?: ReadonlySet<number>,
  skip?: ReadonlySet<number>,
): Ranked {
  const items: number[] = [];
  const scores: number[] = [];
  for (const j of order) {
    if (items.length >= n) break;
    if (!isAllowed(exclusions, excluded, j) || skip?.has(j)) continue;
    items.push(j);
    scores.push(recentBuyers[j]);
  }
  return { items, scores };
}

export type RecommendationMethod = 'factorisation' | 'co-occurrence' | 'popular';

export interface BlendedList extends Ranked {
  /** Which recommender chose each item. */
  methods: RecommendationMethod[];
}

/** The fitted recommenders, ready to rank for any customer index. */
export interface Recommenders {
  interactions: SparseRows;
  als: AlsModel;
  related: RelatedProducts;
  popular: number[];
  recentBuyers: Float64Array;
  /** Customers with at least this many distinct products touched get the factorisation. */
  minHistory: number;
}

/**
 * The blend for each of `users`: with at least `minHistory` distinct products touched, the
 * factorisation; with fewer (but some), co-occurrence from the products touched, weighted by their
 * interaction weight; with none, popularity. A list shorter than `n` is filled from popularity.
 */
export function blendTopN(
  model: Recommenders,
  users: ArrayLike<number>,
  n: number,
  exclusions: Exclusions = {},
): BlendedList[] {
  const { interactions, minHistory } = model;
  const history = (u: number) => interactions.start[u + 1] - interactions.start[u];
  const factorised = Array.from(users).filter((u) => history(u) >= minHistory);
  const byFactorisation = new Map<number, Ranked>();
  factorisationTopN(model.als, factorised, n, exclusions).forEach((ranked, i) =>
    byFactorisation.set(factorised[i], ranked),
  );
  return Array.from(users, (u) => {
    const excluded = exclusions.byUser?.(u);
    let ranked: Ranked;
    let method: RecommendationMethod;
    if (history(u) >= minHistory) {
      ranked = byFactorisation.get(u)!;
      method = 'factorisation';
    } else if (history(u) > 0) {
      const from = interactions.start[u];
      const to = interactions.start[u + 1];
      ranked = cooccurrenceTopN(
        model.related,
        interactions.index.subarray(from, to),
        interactions.value.subarray(from, to),
        n,
        exclusions,
        excluded,
      );
      method = 'co-occurrence';
    } else {
      ranked = { items: [], scores: [] };
      method = 'popular';
    }
    const methods: RecommendationMethod[] = ranked.items.map(() => method);
    if (ranked.items.length < n) {
      const fill = popularTopN(
        model.popular,
        model.recentBuyers,
        n - ranked.items.length,
        exclusions,
        excluded,
        new Set(ranked.items),
      );
      ranked = { items: [...ranked.items, ...fill.items], scores: [...ranked.scores, ...fill.scores] };
      methods.push(...fill.items.map((): RecommendationMethod => 'popular'));
    }
    return { ...ranked, methods };
  });
}

/** 1 when any of the first `k` ranked products is relevant, else 0. */
export function hitRateAtK(ranked: ArrayLike<number>, relevant: ReadonlySet<number>, k: number): number {
  for (let r = 0; r < Math.min(k, ranked.length); r++) if (relevant.has(ranked[r])) return 1;
  return 0;
}

/**
 * Binary-relevance NDCG@k: Σ over relevant products at rank r ≤ k (1-based) of 1/log₂(r + 1), divided
 * by the same sum for the ideal list (min(|relevant|, k) relevant products on top).
 */
export function ndcgAtK(ranked: ArrayLike<number>, relevant: ReadonlySet<number>, k: number): number {
  let dcg = 0;
  for (let r = 0; r < Math.min(k, ranked.length); r++)
    if (relevant.has(ranked[r])) dcg += 1 / Math.log2(r + 2);
  let ideal = 0;
  for (let r = 0; r < Math.min(k, relevant.size); r++) ideal += 1 / Math.log2(r + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

export interface FitRecommendersInput {
  /** Customers × products, the summed interaction weights (purchases, carts, views). */
  interactions: SparseRows;
  /** Baskets × products (1 where the basket holds the product): orders and sessions. */
  baskets: SparseRows;
  /** Distinct buyers per product in the recent window, and ever. */
  recentBuyers: Float64Array;
  allBuyers: Float64Array;
}

export interface RecommenderOptions extends AlsOptions {
  neighbours: number;
  minHistory: number;
}

export function fitRecommenders(input: FitRecommendersInput, options: RecommenderOptions): Recommenders {
  return {
    interactions: input.interactions,
    als: fitImplicitAls(input.interactions, options),
    related: cooccurrence(input.baskets, options.neighbours),
    popular: popularityOrder(input.recentBuyers, input.allBuyers),
    recentBuyers: input.recentBuyers,
    minHistory: options.minHistory,
  };
}

export interface MethodScores {
  hr: number;
  ndcg: number;
}

export interface Evaluation {
  k: number;
  /** Test customers: with history before the split and a purchase after it of a product new to them. */
  customers: number;
  factorisation: MethodScores;
  cooccurrence: MethodScores;
  blend: MethodScores;
  popular: MethodScores;
}

/**
 * HR@k and NDCG@k of each recommender fitted on the training side of a split. `relevant[u]` is what
 * customer u bought after the split that they had not bought before it (empty: u is not a test
 * customer); `boughtBefore(u)` is excluded from every list. Customers without any interaction before
 * the split are left out (they get popularity whatever the method). Co-occurrence ranks from every
 * product the customer touched before the split.
 */
export function evaluateRecommenders(
  model: Recommenders,
  relevant: ReadonlyMap<number, ReadonlySet<number>>,
  boughtBefore: (user: number) => ReadonlySet<number> | undefined,
  k = 10,
): Evaluation {
  const { interactions } = model;
  const users = [...relevant.keys()]
    .filter((u) => relevant.get(u)!.size > 0 && interactions.start[u + 1] > interactions.start[u])
    .sort((a, b) => a - b);
  const exclusions: Exclusions = { byUser: boughtBefore };
  const total = { factorisation: [0, 0], cooccurrence: [0, 0], blend: [0, 0], popular: [0, 0] };
  const add = (method: keyof typeof total, ranked: ArrayLike<number>, wanted: ReadonlySet<number>) => {
    total[method][0] += hitRateAtK(ranked, wanted, k);
    total[method][1] += ndcgAtK(ranked, wanted, k);
  };
  const factorised = factorisationTopN(model.als, users, k, exclusions);
  const blended = blendTopN(model, users, k, exclusions);
  users.forEach((u, i) => {
    const wanted = relevant.get(u)!;
    const from = interactions.start[u];
    const to = interactions.start[u + 1];
    const excluded = boughtBefore(u);
    add('factorisation', factorised[i].items, wanted);
    add(
      'cooccurrence',
      cooccurrenceTopN(
        model.related,
        interactions.index.subarray(from, to),
        interactions.value.subarray(from, to),
        k,
        exclusions,
        excluded,
      ).items,
      wanted,
    );
    add('blend', blended[i].items, wanted);
    add('popular', popularTopN(model.popular, model.recentBuyers, k, exclusions, excluded).items, wanted);
  });
  const mean = ([hr, ndcg]: number[]): MethodScores => ({
    hr: users.length === 0 ? 0 : hr / users.length,
    ndcg: users.length === 0 ? 0 : ndcg / users.length,
  });
  return {
    k,
    customers: users.length,
    factorisation: mean(total.factorisation),
    cooccurrence: mean(total.cooccurrence),
    blend: mean(total.blend),
    popular: mean(total.popular),
  };
}

/** One factorisation's hyperparameters: latent factors and the α of c = 1 + α·w. */
export interface Hyperparameters {
  factors: number;
  alpha: number;
}

export interface HyperparameterTrial extends Hyperparameters, MethodScores {}

export interface HyperparameterChoice extends Hyperparameters {
  /** Each candidate's HR@k and NDCG@k on the validation split, in the candidates' order. */
  tried: HyperparameterTrial[];
  /** Validation customers: with history before the validation split and a new purchase after it. */
  customers: number;
}

/**
 * The factors and α whose factorisation ranks best on a validation split: one fit per candidate on
 * `interactions` (everything up to the validation date), each scored by NDCG@k (then HR@k, then the
 * earlier candidate) on `relevant`, the products each customer bought new in the validation days,
 * with `boughtBefore` excluded as the evaluation excludes it. The validation days precede the
 * evaluation's test days, so the evaluation stays an honest estimate of the candidate chosen.
 */
export function chooseHyperparameters(
  interactions: SparseRows,
  relevant: ReadonlyMap<number, ReadonlySet<number>>,
  boughtBefore: (user: number) => ReadonlySet<number> | undefined,
  candidates: readonly Hyperparameters[],
  options: AlsOptions,
  k = 10,
): HyperparameterChoice {
  if (candidates.length === 0) throw new Error('chooseHyperparameters needs at least one candidate');
  const users = [...relevant.keys()]
    .filter((u) => relevant.get(u)!.size > 0 && interactions.start[u + 1] > interactions.start[u])
    .sort((a, b) => a - b);
  const tried = candidates.map(({ factors, alpha }): HyperparameterTrial => {
    const model = fitImplicitAls(interactions, { ...options, factors, alpha });
    const ranked = factorisationTopN(model, users, k, { byUser: boughtBefore });
    let hr = 0;
    let ndcg = 0;
    users.forEach((u, i) => {
      hr += hitRateAtK(ranked[i].items, relevant.get(u)!, k);
      ndcg += ndcgAtK(ranked[i].items, relevant.get(u)!, k);
    });
    const n = Math.max(1, users.length);
    return { factors, alpha, hr: hr / n, ndcg: ndcg / n };
  });
  const best = tried.reduce((a, b) => (b.ndcg > a.ndcg || (b.ndcg === a.ndcg && b.hr > a.hr) ? b : a));
  return { factors: best.factors, alpha: best.alpha, tried, customers: users.length };
}
