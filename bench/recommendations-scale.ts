/**
 * `npx tsx bench/recommendations-scale.ts`: the recommendations' `ml/` code alone at the issue's scale,
 * a simulated shop of 100,000 customers × 2,000 products and 1,000,000 order lines (four per order), on
 * the backend CARTFLOW_ML_BACKEND names (default wasm). It prints the time of each step of a daily fit
 * as the activity runs it (the evaluation fit on the training side, then the serving fit warm-started
 * from it, scoring and the top 20 for every customer, co-occurrence), the process's peak memory, and
 * as the reference in the same run one alternation of the previous solver: conjugate gradient one
 * vector at a time in plain JavaScript. It asserts nothing.
 *
 * Options (environment): BENCH_SCALE_CUSTOMERS (100,000), BENCH_SCALE_LINES (1,000,000),
 * BENCH_SCALE_ITERATIONS (the fit's iterations, 15), CARTFLOW_RECOMMEND_FACTORS (32).
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { useTensorFlow, type BackendChoice } from '../ml/backend';
import { SeededRandom } from '../ml/random';
import {
  cooccurrence,
  factorisationTopN,
  fitImplicitAls,
  gramMatrix,
  sparseRows,
  transpose,
  type AlsOptions,
  type SparseRows,
} from '../ml/recommend';
import { SERVING_ITERATIONS } from '../activities/models/recommendations';

const CUSTOMERS = Number(process.env.BENCH_SCALE_CUSTOMERS ?? 100_000);
const PRODUCTS = 2_000;
const LINES = Number(process.env.BENCH_SCALE_LINES ?? 1_000_000);
const ITERATIONS = Number(process.env.BENCH_SCALE_ITERATIONS ?? 15);
const FACTORS = Number(process.env.CARTFLOW_RECOMMEND_FACTORS ?? 32);

const say = (line = '') => process.stdout.write(`${line}\n`);
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function timed<T>(work: () => T): [T, number] {
  const started = performance.now();
  const result = work();
  return [result, (performance.now() - started) / 1000];
}

/**
 * Orders of four lines: each customer belongs to one of 20 tastes, and three lines in four come from
 * that taste's 100 products (popular ones more often), one from anywhere.
 */
function simulatedShop() {
  const random = new SeededRandom(2026);
  const orders = Math.ceil(LINES / 4);
  const user = new Int32Array(LINES);
  const item = new Int32Array(LINES);
  const basket = new Int32Array(LINES);
  for (let line = 0; line < LINES; line++) {
    const order = Math.floor(line / 4);
    const customer = (order * 7919) % CUSTOMERS;
    const taste = customer % 20;
    const skewed = Math.floor(100 * random.next() ** 2);
    user[line] = customer;
    item[line] = random.next() < 0.75 ? taste * 100 + skewed : random.below(PRODUCTS);
    basket[line] = order;
  }
  return {
    interactions: sparseRows(CUSTOMERS, PRODUCTS, user, item, new Float32Array(LINES).fill(1)),
    baskets: sparseRows(orders, PRODUCTS, basket, item, new Float32Array(LINES).fill(1)),
    // The training side of the time split: the orders before the last 28 of 365 days.
    training: (() => {
      const before = Math.floor(LINES * (1 - 28 / 365));
      return sparseRows(
        CUSTOMERS,
        PRODUCTS,
        user.subarray(0, before),
        item.subarray(0, before),
        new Float32Array(before).fill(1),
      );
    })(),
  };
}

/** The previous solver (before batching), kept here as the reference: one vector at a time in JavaScript. */
function perVectorHalfStep(
  interactions: SparseRows,
  solve: Float32Array,
  fixed: Float32Array,
  k: number,
  options: AlsOptions,
): void {
  const gram = gramMatrix(fixed, interactions.columns, k);
  for (let d = 0; d < k; d++) gram[d * k + d] += options.regularization;
  const x = new Float64Array(k);
  const r = new Float64Array(k);
  const p = new Float64Array(k);
  const ap = new Float64Array(k);
  const { start, index, value } = interactions;
  for (let u = 0; u < interactions.rows; u++) {
    const offset = u * k;
    for (let d = 0; d < k; d++) x[d] = solve[offset + d];
    // r = b − A x
    for (let a = 0; a < k; a++) {
      let sum = 0;
      for (let b = 0; b < k; b++) sum -= gram[a * k + b] * x[b];
      r[a] = sum;
    }
    for (let e = start[u]; e < start[u + 1]; e++) {
      const y = index[e] * k;
      const confidence = 1 + options.alpha * value[e];
      let dot = 0;
      for (let d = 0; d < k; d++) dot += fixed[y + d] * x[d];
      const coefficient = confidence - (confidence - 1) * dot;
      for (let d = 0; d < k; d++) r[d] += coefficient * fixed[y + d];
    }
    let rsOld = 0;
    for (let d = 0; d < k; d++) {
      p[d] = r[d];
      rsOld += r[d] * r[d];
    }
    for (let step = 0; step < options.cgSteps && rsOld > 1e-20; step++) {
      for (let a = 0; a < k; a++) {
        let sum = 0;
        for (let b = 0; b < k; b++) sum += gram[a * k + b] * p[b];
        ap[a] = sum;
      }
      for (let e = start[u]; e < start[u + 1]; e++) {
        const y = index[e] * k;
        const confidence = 1 + options.alpha * value[e];
        let dot = 0;
        for (let d = 0; d < k; d++) dot += fixed[y + d] * p[d];
        const coefficient = (confidence - 1) * dot;
        for (let d = 0; d < k; d++) ap[d] += coefficient * fixed[y + d];
      }
      let pAp = 0;
      for (let d = 0; d < k; d++) pAp += p[d] * ap[d];
      const stepSize = rsOld / pAp;
      let rsNew = 0;
      for (let d = 0; d < k; d++) {
        x[d] += stepSize * p[d];
        r[d] -= stepSize * ap[d];
        rsNew += r[d] * r[d];
      }
      for (let d = 0; d < k; d++) p[d] = r[d] + (rsNew / rsOld) * p[d];
      rsOld = rsNew;
    }
    for (let d = 0; d < k; d++) solve[offset + d] = x[d];
  }
}

async function main(): Promise<void> {
  const choice = (process.env.CARTFLOW_ML_BACKEND ?? 'wasm') as BackendChoice;
  const backend = await useTensorFlow(choice);
  say(
    `recommendations at scale: ${CUSTOMERS} customers × ${PRODUCTS} products, ${LINES} order lines, ` +
      `backend ${backend.name} (${backend.detail}), ${os.cpus().length} CPUs, load average ${loadAverage()}`,
  );
  const [shop, buildSeconds] = timed(simulatedShop);
  say(
    `  interactions: ${shop.interactions.index.length} (training side ${shop.training.index.length}), ` +
      `baskets ${shop.baskets.rows}; compressed rows built in ${buildSeconds.toFixed(2)} s`,
  );
  const options: AlsOptions = {
    factors: FACTORS,
    iterations: ITERATIONS,
    regularization: 0.1,
    alpha: 0.3,
    cgSteps: 3,
    seed: 1,
  };
  const [evaluationFit, evaluationSeconds] = timed(() => fitImplicitAls(shop.training, options));
  const [servingFit, servingSeconds] = timed(() =>
    fitImplicitAls(shop.interactions, {
      ...options,
      iterations: SERVING_ITERATIONS,
      warmStart: evaluationFit,
    }),
  );
  const everyone = Array.from({ length: CUSTOMERS }, (_, u) => u);
  const [, scoringSeconds] = timed(() => factorisationTopN(servingFit, everyone, 20));
  const [, cooccurrenceSeconds] = timed(() => cooccurrence(shop.baskets, 50));

  // The reference: one alternation of the previous solver, from the evaluation fit's factors.
  const users = Float32Array.from(evaluationFit.userFactors);
  const items = Float32Array.from(evaluationFit.itemFactors);
  const byItem = transpose(shop.interactions);
  const [, referenceSeconds] = timed(() => {
    perVectorHalfStep(shop.interactions, users, items, FACTORS, options);
    perVectorHalfStep(byItem, items, users, FACTORS, options);
  });
  const perIteration = evaluationSeconds / ITERATIONS;
  const total = evaluationSeconds + servingSeconds + scoringSeconds + cooccurrenceSeconds;
  say(`  step                                             seconds`);
  const row = (name: string, s: number) => say(`  ${name.padEnd(48)} ${s.toFixed(2).padStart(7)}`);
  row(`evaluation fit, ${ITERATIONS} iterations (cold start)`, evaluationSeconds);
  row(`serving fit, ${SERVING_ITERATIONS} iterations (warm start)`, servingSeconds);
  row(`scoring and top 20 for ${CUSTOMERS} customers`, scoringSeconds);
  row('co-occurrence, 50 neighbours', cooccurrenceSeconds);
  row('total of the four', total);
  say(
    `  one alternation: batched ${perIteration.toFixed(2)} s, previous per-vector solver ${referenceSeconds.toFixed(2)} s ` +
      `(${(referenceSeconds / perIteration).toFixed(1)}× faster)`,
  );
  say(
    `  peak memory (max RSS): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; load average ${loadAverage()}`,
  );
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
