import type pg from 'pg';
import type { ModelStepResult } from '../../contracts/model-summary';
import { useTensorFlow } from '../../ml/backend';
import {
  blendTopN,
  chooseHyperparameters,
  evaluateRecommenders,
  fitRecommenders,
  popularTopN,
  sparseRows,
  type HyperparameterChoice,
  type Hyperparameters,
  type Evaluation,
  type RecommenderOptions,
} from '../../ml/recommend';
import { CopyWriter } from '../../lib/copy';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import { createModelFitter, dateKey, NotEnoughData, type ModelDeps, type ModelInput } from './fit';
import { BASKETS, INTERACTIONS, PRODUCTS, TEST_PURCHASES } from './recommendations.sql';
import { clearMartDate } from './versions';

/** The source whose customers the storefront's events (staging.raw_events) belong to. */
export const EVENTS_SOURCE = DEMO_SHOP_SOURCE.name;
/** Products kept per customer, per product (related) and per category (popular); the API's largest limit. */
export const STORED_PER_LIST = 20;
/** Popular products kept over all categories. */
const POPULAR_OVERALL = 100;
/** Days of sales that make a product popular ("recent"). */
const RECENT_DAYS = 28;
/** Fixed hyperparameters, recorded with every version. */
const REGULARIZATION = 0.1;
const CG_STEPS = 3;
const NEIGHBOURS = 50;
const MIN_HISTORY = 3;
/**
 * Iterations of the serving fit (on everything up to D), which starts from the evaluation fit's factors
 * (everything up to D − testDays) instead of random ones, so it needs fewer than the evaluation's.
 */
export const SERVING_ITERATIONS = 5;
/**
 * CARTFLOW_RECOMMEND_ALPHA=auto and CARTFLOW_RECOMMEND_FACTORS=auto (the defaults) try these on a
 * validation split: fitted on everything up to V = D − 2·testDays, scored on the new purchases of
 * (V, D − testDays], the days just before the evaluation's. A configured value is the only candidate
 * of its kind. The first of each is what is used when the validation cannot decide.
 */
export const ALPHA_CANDIDATES = [0.3, 1, 3, 10];
export const FACTOR_CANDIDATES = [32, 64];
/** Above this many interactions up to V a source is not tuned (one fit per candidate): the fallback. */
export const TUNING_MAX_INTERACTIONS = 300_000;
/** Fewer validation customers than this cannot tell the candidates apart: the fallback. */
const MIN_VALIDATION_CUSTOMERS = 20;

/** How a source's factors and α were set: given, chosen on the validation split, or the fallback and why. */
export type HyperparameterSetting =
  | (Hyperparameters & { how: 'configured' })
  | ({ how: 'validation' } & HyperparameterChoice)
  | (Hyperparameters & { how: 'fallback'; reason: string });

export interface RecommendationDeps extends ModelDeps {
  /** The storefront's database, for stock; without it (or without a stock column) nothing is excluded for stock. */
  shop?: pg.Pool;
}

const addDays = (date: string, days: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

interface InteractionRow {
  source: string;
  customer_id: string;
  product_id: string;
  weight: number;
  bought_since: boolean;
  bought: boolean;
}
interface ProductRow {
  source: string;
  product_id: string;
  category: string;
  recent_buyers: number;
  all_buyers: number;
}

/** What the warehouse says as of one date, read with set-based SQL and grouped by source. */
interface Snapshot {
  interactions: InteractionRow[];
  baskets: { source: string; basket: string; product_id: string }[];
  products: ProductRow[];
}

/** Dense indices for one source's customers and products. */
class Index {
  readonly ids: string[] = [];
  private readonly byId = new Map<string, number>();
  of(id: string): number {
    let i = this.byId.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.ids.push(id);
      this.byId.set(id, i);
    }
    return i;
  }
  get(id: string): number | undefined {
    return this.byId.get(id);
  }
  get size() {
    return this.ids.length;
  }
}

const bySource = <Row extends { source: string }>(rows: Row[], source: string) =>
  rows.filter((r) => r.source === source);

/**
 * The recommendations' activity (docs/models-recommendations.md): reads customer × product
 * interactions (purchases from core, carts and views from the storefront's events) as of the date,
 * fits the factorisation, co-occurrence and popularity per source, evaluates them on a time split, and
 * replaces the date's rows of mart.recommendations, mart.related_products and mart.popular_products.
 */
export function createRecommendationActivities(deps: RecommendationDeps) {
  const { warehouse, config } = deps;
  const fitModel = createModelFitter(deps);
  const settings = config.models.recommendations;

  async function snapshot(date: string, excludeFrom: string): Promise<Snapshot> {
    const key = dateKey(date);
    const events = [date, config.timezone, EVENTS_SOURCE];
    const { purchase, cart, view } = settings.weights;
    const [interactions, baskets, products] = await Promise.all([
      warehouse.query<InteractionRow>(INTERACTIONS, [
        key,
        ...events,
        purchase,
        cart,
        view,
        dateKey(excludeFrom),
      ]),
      warehouse.query<Snapshot['baskets'][number]>(BASKETS, [key, ...events]),
      warehouse.query<ProductRow>(PRODUCTS, [key, ...events, dateKey(addDays(date, 1 - RECENT_DAYS))]),
    ]);
    return { interactions: interactions.rows, baskets: baskets.rows, products: products.rows };
  }

  /** Products in stock in the storefront's database, or undefined when it has no stock to tell. */
  async function inStock(): Promise<{ inStock: Set<string> | undefined; note: string }> {
    if (!deps.shop) return { inStock: undefined, note: 'no shop database: stock not checked' };
    const column = await deps.shop.query(
      `select 1 from information_schema.columns
        where table_name = 'products' and column_name = 'stock' and table_schema = current_schema()`,
    );
    if (column.rowCount === 0)
      return {
        inStock: undefined,
        note: 'the shop database has no products.stock column: stock not checked',
      };
    const { rows } = await deps.shop.query<{ product_id: string }>(
      `select product_id::text as product_id from products where stock > 0`,
    );
    return {
      inStock: new Set(rows.map((r) => r.product_id)),
      note: `stock from the shop database's products.stock`,
    };
  }

  /** One source's customers × products interaction weights, and what each customer bought. */
  function interactionMatrix(source: string, data: Snapshot, customers: Index, products: Index) {
    const interactions = bySource(data.interactions, source);
    const matrix = sparseRows(
      customers.size,
      products.size,
      interactions.map((r) => customers.of(r.customer_id)),
      interactions.map((r) => products.of(r.product_id)),
      interactions.map((r) => r.weight),
    );
    const bought = new Map<number, Set<number>>();
    const boughtSince = new Map<number, Set<number>>();
    for (const r of interactions) {
      const u = customers.of(r.customer_id);
      const j = products.of(r.product_id);
      if (r.bought) (bought.get(u) ?? bought.set(u, new Set()).get(u)!).add(j);
      if (r.bought_since) (boughtSince.get(u) ?? boughtSince.set(u, new Set()).get(u)!).add(j);
    }
    return { matrix, bought, boughtSince, rows: interactions.length };
  }

  /** The new purchases of a test or validation window, by customer and product index. */
  function purchasesByCustomer(
    rows: { source: string; customer_id: string; product_id: string }[],
    source: string,
    customers: Index,
    products: Index,
  ) {
    const relevant = new Map<number, Set<number>>();
    for (const r of bySource(rows, source)) {
      const u = customers.get(r.customer_id);
      const j = products.get(r.product_id);
      if (u === undefined || j === undefined) continue;
      (relevant.get(u) ?? relevant.set(u, new Set()).get(u)!).add(j);
    }
    return relevant;
  }

  function fitSource(
    source: string,
    data: Snapshot,
    customers: Index,
    products: Index,
    options: RecommenderOptions,
  ) {
    const { matrix, bought, boughtSince, rows } = interactionMatrix(source, data, customers, products);
    const baskets = new Index();
    const basketRows = bySource(data.baskets, source);
    const withBaskets = sparseRows(
      new Set(basketRows.map((r) => r.basket)).size,
      products.size,
      basketRows.map((r) => baskets.of(r.basket)),
      basketRows.map((r) => products.of(r.product_id)),
      basketRows.map(() => 1),
    );
    const recentBuyers = new Float64Array(products.size);
    const allBuyers = new Float64Array(products.size);
    for (const r of bySource(data.products, source)) {
      const j = products.of(r.product_id);
      recentBuyers[j] = r.recent_buyers;
      allBuyers[j] = r.all_buyers;
    }
    const model = fitRecommenders(
      { interactions: matrix, baskets: withBaskets, recentBuyers, allBuyers },
      options,
    );
    return { model, bought, boughtSince, interactions: rows, baskets: baskets.size };
  }

  return {
    /** Recommendations per customer, related products and popular products (docs/models-recommendations.md). */
    async fitRecommendations(input: ModelInput): Promise<ModelStepResult> {
      return fitModel('recommendations', input, async (heartbeat) => {
        const backend = await useTensorFlow(config.ml.backend);
        const split = addDays(input.date, -settings.testDays);
        const validationSplit = addDays(split, -settings.testDays);
        const excludeFrom = addDays(input.date, 1 - settings.excludeDays);
        const purchasesBetween = (after: string, upTo: string) =>
          warehouse
            .query<{ source: string; customer_id: string; product_id: string }>(TEST_PURCHASES, [
              dateKey(after),
              dateKey(upTo),
            ])
            .then((r) => r.rows);
        const alphas = settings.alpha === 'auto' ? ALPHA_CANDIDATES : [settings.alpha];
        const factorCounts = settings.factors === 'auto' ? FACTOR_CANDIDATES : [settings.factors];
        const candidates = factorCounts.flatMap((factors) => alphas.map((alpha) => ({ factors, alpha })));
        const fallback = candidates[0];
        const tuning = candidates.length > 1;
        heartbeat({ step: 'reading' });
        const [full, train, test, stock, validationTrain, validationPurchases] = await Promise.all([
          snapshot(input.date, excludeFrom),
          snapshot(split, split),
          purchasesBetween(split, input.date),
          inStock(),
          tuning ? snapshot(validationSplit, validationSplit) : undefined,
          tuning ? purchasesBetween(validationSplit, split) : undefined,
        ]);
        if (full.interactions.length === 0)
          throw new NotEnoughData(
            `recommendations need at least one purchase, cart or view up to ${input.date}, and there is none`,
          );
        const options: RecommenderOptions = {
          ...fallback,
          iterations: settings.iterations,
          regularization: REGULARIZATION,
          cgSteps: CG_STEPS,
          seed: config.models.seed,
          neighbours: NEIGHBOURS,
          minHistory: MIN_HISTORY,
        };
        /** The source's factors and α: as configured, or the candidate that ranks best on the validation split. */
        const hyperparametersFor = (
          source: string,
          customers: Index,
          products: Index,
        ): HyperparameterSetting => {
          if (!validationTrain || !validationPurchases) return { ...fallback, how: 'configured' };
          const { matrix, bought, rows } = interactionMatrix(source, validationTrain, customers, products);
          if (rows > TUNING_MAX_INTERACTIONS)
            return {
              ...fallback,
              how: 'fallback',
              reason: `${rows} interactions up to ${validationSplit}, above the ${TUNING_MAX_INTERACTIONS} the tuning fits`,
            };
          const relevant = purchasesByCustomer(validationPurchases, source, customers, products);
          const choice = chooseHyperparameters(
            matrix,
            relevant,
            (u) => bought.get(u),
            candidates,
            options,
            10,
          );
          if (choice.customers < MIN_VALIDATION_CUSTOMERS)
            return {
              ...fallback,
              how: 'fallback',
              reason: `${choice.customers} validation customers in (${validationSplit}, ${split}], fewer than ${MIN_VALIDATION_CUSTOMERS}`,
            };
          return { how: 'validation', ...choice };
        };
        const sources = [...new Set(full.interactions.map((r) => r.source))].sort();
        const results = sources.map((source) => {
          const customers = new Index();
          const products = new Index();
          // The full side names every customer and product, so the training side's indices are its own.
          for (const r of bySource(full.products, source)) products.of(r.product_id);
          for (const r of bySource(full.interactions, source)) customers.of(r.customer_id);
          heartbeat({ step: 'tuning', source });
          const chosen = hyperparametersFor(source, customers, products);
          const hyperparameters = { factors: chosen.factors, alpha: chosen.alpha };
          heartbeat({ step: 'evaluating', source });
          const trained = fitSource(source, train, customers, products, {
            ...options,
            ...hyperparameters,
            onIteration: (iteration) => heartbeat({ step: 'evaluating', source, iteration }),
          });
          const relevant = purchasesByCustomer(test, source, customers, products);
          const evaluation = evaluateRecommenders(trained.model, relevant, (u) => trained.bought.get(u), 10);
          heartbeat({ step: 'fitting', source });
          const fitted = fitSource(source, full, customers, products, {
            ...options,
            ...hyperparameters,
            iterations: Math.min(SERVING_ITERATIONS, options.iterations),
            warmStart: trained.model.als,
            onIteration: (iteration) => heartbeat({ step: 'fitting', source, iteration }),
          });
          const allowed = new Uint8Array(products.size).fill(1);
          if (stock.inStock && source === EVENTS_SOURCE)
            products.ids.forEach((id, j) => (allowed[j] = stock.inStock!.has(id) ? 1 : 0));
          const categories = new Map<string, string>(
            bySource(full.products, source).map((r) => [r.product_id, r.category]),
          );
          return { source, customers, products, evaluation, fitted, allowed, categories, trained, chosen };
        });

        const evaluation: Record<string, Evaluation> = Object.fromEntries(
          results.map((r) => [r.source, r.evaluation]),
        );
        const customerCount = results.reduce((n, r) => n + r.customers.size, 0);
        const productCount = results.reduce((n, r) => n + r.products.size, 0);
        const trainingRows = results.reduce((n, r) => n + r.fitted.interactions, 0);
        const main = results.reduce((a, b) => (b.evaluation.customers > a.evaluation.customers ? b : a));
        const e = main.evaluation;
        const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
        heartbeat({ step: 'ranking' });
        const lists = results.map((r) => ({
          ...r,
          recommendations: blendTopN(
            r.fitted.model,
            r.customers.ids.map((_, u) => u),
            STORED_PER_LIST,
            { allowed: r.allowed, byUser: (u) => r.fitted.boughtSince.get(u) },
          ),
        }));
        return {
          parameters: {
            weights: settings.weights,
            factors: main.chosen.factors,
            iterations: options.iterations,
            servingIterations: Math.min(SERVING_ITERATIONS, options.iterations),
            servingStart: 'the evaluation fit',
            alpha: main.chosen.alpha,
            hyperparameters: Object.fromEntries(results.map((r) => [r.source, r.chosen])),
            regularization: REGULARIZATION,
            cgSteps: CG_STEPS,
            neighbours: NEIGHBOURS,
            minHistory: MIN_HISTORY,
            recentDays: RECENT_DAYS,
            excludeDays: settings.excludeDays,
            testDays: settings.testDays,
            split,
            seed: config.models.seed,
            cooccurrence: 'cosine c_ij / sqrt(n_i n_j) over orders and carted sessions',
            stock: stock.note,
          },
          metrics: { customers: customerCount, products: productCount, evaluation },
          trainingRows,
          outputRows: lists.reduce(
            (n, r) => n + r.recommendations.reduce((m, l) => m + l.items.length, 0),
            0,
          ),
          backend: backend.name,
          headline:
            `HR@10 blend ${pct(e.blend.hr)}, factorisation ${pct(e.factorisation.hr)}, ` +
            `co-occurrence ${pct(e.cooccurrence.hr)}, popular ${pct(e.popular.hr)} (${e.customers} test customers of ${main.source})`,
          write: async (client: pg.PoolClient, versionId: number) => {
            for (const mart of ['mart.recommendations', 'mart.related_products', 'mart.popular_products'])
              await clearMartDate(client, mart, input.date);
            const version = String(versionId);
            const recommendations = new CopyWriter(client, 'mart.recommendations', [
              'as_of',
              'source',
              'customer_id',
              'rank',
              'product_id',
              'score',
              'method',
              'version_id',
            ]);
            for (const r of lists)
              for (let u = 0; u < r.recommendations.length; u++) {
                const list = r.recommendations[u];
                for (let rank = 0; rank < list.items.length; rank++)
                  await recommendations.write([
                    input.date,
                    r.source,
                    r.customers.ids[u],
                    String(rank + 1),
                    r.products.ids[list.items[rank]],
                    String(list.scores[rank]),
                    list.methods[rank],
                    version,
                  ]);
              }
            const written = await recommendations.end();
            const related = new CopyWriter(client, 'mart.related_products', [
              'as_of',
              'source',
              'product_id',
              'rank',
              'related_product_id',
              'score',
              'version_id',
            ]);
            for (const r of lists) {
              const neighbours = r.fitted.model.related;
              for (let i = 0; i < r.products.size; i++) {
                let rank = 0;
                for (
                  let e = neighbours.start[i];
                  e < neighbours.start[i + 1] && rank < STORED_PER_LIST;
                  e++
                ) {
                  const j = neighbours.index[e];
                  if (r.allowed[j] === 0) continue;
                  rank++;
                  await related.write([
                    input.date,
                    r.source,
                    r.products.ids[i],
                    String(rank),
                    r.products.ids[j],
                    String(neighbours.value[e]),
                    version,
                  ]);
                }
              }
            }
            await related.end();
            const popular = new CopyWriter(client, 'mart.popular_products', [
              'as_of',
              'source',
              'category',
              'rank',
              'product_id',
              'score',
              'version_id',
            ]);
            for (const r of lists) {
              const { popular: order, recentBuyers } = r.fitted.model;
              const writeList = async (category: string, items: number[], scores: number[]) => {
                for (let rank = 0; rank < items.length; rank++)
                  await popular.write([
                    input.date,
                    r.source,
                    category,
                    String(rank + 1),
                    r.products.ids[items[rank]],
                    String(scores[rank]),
                    version,
                  ]);
              };
              const overall = popularTopN(order, recentBuyers, POPULAR_OVERALL, { allowed: r.allowed });
              await writeList('', overall.items, overall.scores);
              const byCategory = new Map<string, { items: number[]; scores: number[] }>();
              for (const j of order) {
                const category = r.categories.get(r.products.ids[j]) ?? '';
                if (category === '' || r.allowed[j] === 0) continue;
                const list =
                  byCategory.get(category) ??
                  byCategory.set(category, { items: [], scores: [] }).get(category)!;
                if (list.items.length >= STORED_PER_LIST) continue;
                list.items.push(j);
                list.scores.push(recentBuyers[j]);
              }
              for (const [category, list] of [...byCategory].sort(([a], [b]) => (a < b ? -1 : 1)))
                await writeList(category, list.items, list.scores);
            }
            await popular.end();
            return written;
          },
        };
      });
    },
  };
}
