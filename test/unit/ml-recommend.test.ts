import { useTensorFlow } from '../../ml/backend';
import {
  blendTopN,
  chooseHyperparameters,
  cooccurrence,
  evaluateRecommenders,
  factorisationTopN,
  fitImplicitAls,
  fitRecommenders,
  gramMatrix,
  hitRateAtK,
  ndcgAtK,
  popularityOrder,
  sparseRows,
  type AlsOptions,
} from '../../ml/recommend';
import { SeededRandom } from '../../ml/random';
import { testBackendChoice } from '../helpers/ml-backend';

beforeAll(async () => {
  await useTensorFlow(testBackendChoice());
});

const ALS: AlsOptions = { factors: 6, iterations: 10, regularization: 0.1, alpha: 10, cgSteps: 3, seed: 7 };

/**
 * Three planted blocks: customers 0–29 touch products 0–19, 30–59 touch 20–39, 60–89 touch 40–59,
 * each about half of their block's products, at random; nothing crosses blocks.
 */
function plantedBlocks(seed: number) {
  const random = new SeededRandom(seed);
  const row: number[] = [];
  const column: number[] = [];
  const value: number[] = [];
  for (let u = 0; u < 90; u++) {
    const block = Math.floor(u / 30);
    for (let j = block * 20; j < block * 20 + 20; j++)
      if (random.next() < 0.5) {
        row.push(u);
        column.push(j);
        value.push(1 + random.below(3));
      }
  }
  return sparseRows(90, 60, row, column, value);
}

describe('sparseRows', () => {
  it('sums repeated pairs and sorts each row, whatever the order of the triples', () => {
    const m = sparseRows(2, 3, [1, 0, 1, 0], [2, 1, 2, 0], [1, 2, 3, 4]);
    expect(Array.from(m.start)).toEqual([0, 2, 3]);
    expect(Array.from(m.index)).toEqual([0, 1, 2]);
    expect(Array.from(m.value)).toEqual([4, 2, 4]);
    expect(() => sparseRows(2, 3, [2], [0], [1])).toThrow(/outside the 2 × 3 matrix/);
  });
});

describe('implicit ALS', () => {
  it('computes YᵀY on the backend as plain arithmetic does', () => {
    const y = Float32Array.from([1, 2, 3, 4, 5, 6]); // 3 × 2
    expect(Array.from(gramMatrix(y, 3, 2))).toEqual([35, 44, 44, 56]);
  });

  it('recovers planted blocks: every customer is recommended only unseen products of their own block', () => {
    const interactions = plantedBlocks(1);
    const model = fitImplicitAls(interactions, ALS);
    const users = Array.from({ length: 90 }, (_, u) => u);
    const seen = (u: number) =>
      new Set(interactions.index.subarray(interactions.start[u], interactions.start[u + 1]));
    const lists = factorisationTopN(model, users, 5, { byUser: seen });
    let outside = 0;
    lists.forEach((list, u) => {
      expect(list.items).toHaveLength(5);
      for (const j of list.items) {
        expect(seen(u).has(j)).toBe(false);
        if (Math.floor(j / 20) !== Math.floor(u / 30)) outside++;
      }
    });
    expect(outside).toBe(0);
  });

  it('is the same for the same seed, and differs for another', () => {
    const interactions = plantedBlocks(2);
    const a = fitImplicitAls(interactions, ALS);
    const b = fitImplicitAls(interactions, ALS);
    const c = fitImplicitAls(interactions, { ...ALS, seed: 8 });
    expect(Array.from(a.userFactors)).toEqual(Array.from(b.userFactors));
    expect(Array.from(a.itemFactors)).not.toEqual(Array.from(c.itemFactors));
  });

  it('solves every row of a half-step in batches: each row meets its normal equations, across blocks', () => {
    // 30 customers × 9,000 products: the products' half-step, the last one, spans two blocks of rows.
    const random = new SeededRandom(3);
    const row: number[] = [];
    const column: number[] = [];
    const value: number[] = [];
    for (let j = 0; j < 9000; j++)
      for (let u = 0; u < 30; u++)
        if (random.next() < 0.1 || u === j % 30) {
          row.push(u);
          column.push(j);
          value.push(1 + random.below(3));
        }
    const interactions = sparseRows(30, 9000, row, column, value);
    const k = 4;
    const options = { ...ALS, factors: k, iterations: 2, cgSteps: 12, alpha: 2 };
    const model = fitImplicitAls(interactions, options);
    const byItem = new Map<number, { u: number; c: number }[]>();
    for (let u = 0; u < 30; u++)
      for (let e = interactions.start[u]; e < interactions.start[u + 1]; e++) {
        const j = interactions.index[e];
        (byItem.get(j) ?? byItem.set(j, []).get(j)!).push({
          u,
          c: 1 + options.alpha * interactions.value[e],
        });
      }
    const x = (u: number, d: number) => model.userFactors[u * k + d];
    for (const j of [0, 1, 4095, 8191, 8192, 8193, 8999]) {
      // (XᵀX + λI + Σ_u (c − 1) x_u x_uᵀ) y_j = Σ_u c x_u
      const a = Array.from({ length: k }, (_, i) =>
        Array.from({ length: k }, (_, l) => {
          let sum = i === l ? options.regularization : 0;
          for (let u = 0; u < 30; u++) sum += x(u, i) * x(u, l);
          for (const { u, c } of byItem.get(j)!) sum += (c - 1) * x(u, i) * x(u, l);
          return sum;
        }),
      );
      const b = Array.from({ length: k }, (_, i) =>
        byItem.get(j)!.reduce((s, { u, c }) => s + c * x(u, i), 0),
      );
      const y = Array.from({ length: k }, (_, d) => model.itemFactors[j * k + d]);
      const residual = a.map((line, i) => line.reduce((s, v, l) => s + v * y[l], 0) - b[i]);
      expect(Math.hypot(...residual)).toBeLessThan(1e-3 * Math.hypot(...b));
    }
  });

  it('starts from given factors, and refuses ones of another shape', () => {
    const interactions = plantedBlocks(4);
    const first = fitImplicitAls(interactions, ALS);
    const unchanged = fitImplicitAls(interactions, { ...ALS, iterations: 0, warmStart: first });
    expect(Array.from(unchanged.userFactors)).toEqual(Array.from(first.userFactors));
    const further = fitImplicitAls(interactions, { ...ALS, iterations: 1, warmStart: first });
    const cold = fitImplicitAls(interactions, { ...ALS, iterations: 1 });
    expect(Array.from(further.itemFactors)).not.toEqual(Array.from(cold.itemFactors));
    expect(() => fitImplicitAls(interactions, { ...ALS, factors: 5, warmStart: first })).toThrow(
      'a warm start needs 90 × 60 with 5 factors, not 90 × 60 with 6',
    );
  });
});

describe('co-occurrence', () => {
  // Baskets {A,B,C}, {A,B}, {B,C}, {A,D} with A..D = 0..3: n = (3, 3, 2, 1); c_AB = 2, c_AC = 1,
  // c_AD = 1, c_BC = 2, c_BD = c_CD = 0. Cosine: AB 2/3, AC 1/√6, AD 1/√3, BC 2/√6.
  const baskets = sparseRows(
    4,
    4,
    [0, 0, 0, 1, 1, 2, 2, 3, 3],
    [0, 1, 2, 0, 1, 1, 2, 0, 3],
    [1, 1, 1, 1, 1, 1, 1, 1, 1],
  );

  it('scores pairs by c_ij / √(n_i n_j), best first', () => {
    const related = cooccurrence(baskets, 10);
    const of = (i: number) =>
      Array.from(related.index.subarray(related.start[i], related.start[i + 1])).map((j, e) => [
        j,
        related.value[related.start[i] + e],
      ]);
    const close = (pairs: number[][], expected: number[][]) => {
      expect(pairs.map(([j]) => j)).toEqual(expected.map(([j]) => j));
      pairs.forEach(([, s], e) => expect(s).toBeCloseTo(expected[e][1], 6));
    };
    close(of(0), [
      [1, 2 / 3],
      [3, 1 / Math.sqrt(3)],
      [2, 1 / Math.sqrt(6)],
    ]);
    close(of(1), [
      [2, 2 / Math.sqrt(6)],
      [0, 2 / 3],
    ]);
    close(of(2), [
      [1, 2 / Math.sqrt(6)],
      [0, 1 / Math.sqrt(6)],
    ]);
    close(of(3), [[0, 1 / Math.sqrt(3)]]);
  });

  it('keeps only the requested number of neighbours', () => {
    const related = cooccurrence(baskets, 1);
    expect(Array.from(related.index)).toEqual([1, 2, 1, 0]);
  });
});

describe('ranking metrics', () => {
  it('HR@k and NDCG@k on hand-computed lists', () => {
    const relevant = new Set([3, 1]);
    expect(hitRateAtK([5, 3, 7, 1], relevant, 3)).toBe(1);
    expect(hitRateAtK([5, 3, 7, 1], relevant, 1)).toBe(0);
    // rank 2 relevant: 1/log2(3); ideal: 1 + 1/log2(3)
    expect(ndcgAtK([5, 3, 7, 1], relevant, 3)).toBeCloseTo(1 / Math.log2(3) / (1 + 1 / Math.log2(3)), 10);
    // ranks 2 and 4: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3))
    expect(ndcgAtK([5, 3, 7, 1], relevant, 4)).toBeCloseTo(
      (1 / Math.log2(3) + 1 / Math.log2(5)) / (1 + 1 / Math.log2(3)),
      10,
    );
    expect(ndcgAtK([3, 1], relevant, 10)).toBe(1);
    expect(ndcgAtK([9, 8], relevant, 10)).toBe(0);
    expect(ndcgAtK([], new Set(), 10)).toBe(0);
  });
});

describe('blend and evaluation', () => {
  it('gives factorisation, co-occurrence or popularity by history, and honours stock and exclusions', () => {
    // Customer 0: many products of block 0; customer 1: one product; customer 2: none.
    const interactions = plantedBlocks(3);
    const full = sparseRows(
      92,
      60,
      [...Array.from(interactions.index, (_, e) => rowOf(interactions, e)), 90],
      [...Array.from(interactions.index), 25],
      [...Array.from(interactions.value), 1],
    );
    const basketsFromCustomers = sparseRows(
      90,
      60,
      Array.from(interactions.index, (_, e) => rowOf(interactions, e)),
      Array.from(interactions.index),
      Array.from(interactions.index, () => 1),
    );
    const recentBuyers = new Float64Array(60).fill(0);
    recentBuyers[59] = 10;
    recentBuyers[58] = 9;
    recentBuyers[57] = 8;
    const model = fitRecommenders(
      { interactions: full, baskets: basketsFromCustomers, recentBuyers, allBuyers: new Float64Array(60) },
      { ...ALS, neighbours: 20, minHistory: 3 },
    );
    const allowed = new Uint8Array(60).fill(1);
    allowed[59] = 0; // out of stock
    const [heavy, light, none] = blendTopN(model, [0, 90, 91], 3, { allowed });
    expect(heavy.methods).toEqual(['factorisation', 'factorisation', 'factorisation']);
    expect(heavy.items.every((j) => j < 20)).toBe(true);
    expect(light.methods[0]).toBe('co-occurrence');
    expect(light.items.every((j) => j >= 20 && j < 40 && j !== 25)).toBe(true);
    expect(none.methods).toEqual(['popular', 'popular', 'popular']);
    expect(none.items).toEqual([58, 57, 0]);
  });

  it('scores the factorisation and blend above popularity on planted blocks', () => {
    const all = plantedBlocks(4);
    // Hold out one product of each customer, at random, as the test purchase.
    const random = new SeededRandom(5);
    const row: number[] = [];
    const column: number[] = [];
    const value: number[] = [];
    const relevant = new Map<number, Set<number>>();
    for (let u = 0; u < all.rows; u++) {
      const last = all.start[u] + random.below(all.start[u + 1] - all.start[u]);
      for (let e = all.start[u]; e < all.start[u + 1]; e++) {
        if (e === last) continue;
        row.push(u);
        column.push(all.index[e]);
        value.push(all.value[e]);
      }
      relevant.set(u, new Set([all.index[last]]));
    }
    const train = sparseRows(all.rows, all.columns, row, column, value);
    const buyers = new Float64Array(60);
    for (const j of column) buyers[j]++;
    const model = fitRecommenders(
      { interactions: train, baskets: train, recentBuyers: buyers, allBuyers: buyers },
      { ...ALS, neighbours: 20, minHistory: 3 },
    );
    const seen = (u: number) => new Set(train.index.subarray(train.start[u], train.start[u + 1]));
    const evaluation = evaluateRecommenders(model, relevant, seen, 10);
    expect(evaluation.customers).toBe(90);
    expect(evaluation.factorisation.hr).toBeGreaterThan(0.8);
    expect(evaluation.blend.hr).toBeGreaterThan(evaluation.popular.hr + 0.3);
    expect(evaluation.factorisation.ndcg).toBeGreaterThan(evaluation.popular.ndcg);
    expect(evaluation.cooccurrence.hr).toBeGreaterThan(evaluation.popular.hr);
  });

  it('orders popularity by recent buyers, then all buyers, then index', () => {
    expect(popularityOrder([1, 3, 3, 0], [5, 1, 2, 9])).toEqual([2, 1, 0, 3]);
  });
});

function rowOf(matrix: { start: Int32Array }, entry: number): number {
  let r = 0;
  while (matrix.start[r + 1] <= entry) r++;
  return r;
}

describe('chooseHyperparameters', () => {
  /** Planted blocks with each customer's last two products of their block held out as the validation purchases. */
  function validationSplit() {
    const all = plantedBlocks(4);
    const row: number[] = [];
    const column: number[] = [];
    const value: number[] = [];
    const relevant = new Map<number, Set<number>>();
    for (let u = 0; u < all.rows; u++) {
      const own = Array.from(all.index.subarray(all.start[u], all.start[u + 1]));
      own.forEach((j, e) => {
        if (e >= own.length - 2 && u % 3 !== 0) {
          (relevant.get(u) ?? relevant.set(u, new Set()).get(u)!).add(j);
        } else {
          row.push(u);
          column.push(j);
          value.push(all.value[all.start[u] + e]);
        }
      });
    }
    return { train: sparseRows(all.rows, all.columns, row, column, value), relevant };
  }

  it("scores each candidate as the evaluation scores the factorisation, and keeps the best NDCG's", () => {
    const { train, relevant } = validationSplit();
    const seen = (u: number) => new Set(train.index.subarray(train.start[u], train.start[u + 1]));
    const candidates = [
      { factors: 3, alpha: 0.3 },
      { factors: 6, alpha: 3 },
      { factors: 6, alpha: 30 },
    ];
    const choice = chooseHyperparameters(train, relevant, seen, candidates, ALS);
    expect(choice.customers).toBe(60);
    expect(choice.tried.map(({ factors, alpha }) => ({ factors, alpha }))).toEqual(candidates);
    for (const trial of choice.tried) {
      const model = fitRecommenders(
        {
          interactions: train,
          baskets: train,
          recentBuyers: new Float64Array(60),
          allBuyers: new Float64Array(60),
        },
        { ...ALS, factors: trial.factors, alpha: trial.alpha, neighbours: 5, minHistory: 1 },
      );
      const evaluation = evaluateRecommenders(model, relevant, seen, 10);
      expect(trial.hr).toBeCloseTo(evaluation.factorisation.hr, 10);
      expect(trial.ndcg).toBeCloseTo(evaluation.factorisation.ndcg, 10);
    }
    const best = Math.max(...choice.tried.map((t) => t.ndcg));
    const chosen = choice.tried.find((t) => t.alpha === choice.alpha && t.factors === choice.factors);
    expect(chosen!.ndcg).toBe(best);
    expect(best).toBeGreaterThan(0);
  });

  it('needs a candidate', () => {
    const { train, relevant } = validationSplit();
    expect(() => chooseHyperparameters(train, relevant, () => undefined, [], ALS)).toThrow(
      /at least one candidate/,
    );
  });
});
