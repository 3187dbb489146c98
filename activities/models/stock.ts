import type pg from 'pg';
import { formatDay, parseDay } from '../../ml/holidays';
import { auc, fitLogistic, fitPoisson, logLoss, predictCount, predictProbability } from '../../ml/stock';
import type { ModelStepResult } from '../../contracts/model-summary';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import { CopyWriter } from '../../lib/copy';
import { createModelFitter, FLOAT64_JS, NotEnoughData, type ModelDeps, type ModelInput } from './fit';
import { clearMartDate } from './versions';

/** Training windows: weeks ending D − 14, D − 21, …: their labels (the 7 days after) end by D − 7. */
export const STOCK_TRAINING_WINDOWS = 8;
/** The storefront's events belong to the demo shop's products. */
const EVENTS_SOURCE = DEMO_SHOP_SOURCE.name;
/** Categories with their own feature; the others share one. */
const CATEGORY_FEATURES = 8;
const LAMBDA = 1;

/**
 * One row per product and window end e ($2, an array of dates): the product's version valid at the
 * end of e (price, category); its units, sale days and days since the last sale up to e (lines neither
 * cancelled nor returned, up to the date key $1); the storefront's views and carts of it in the 7 days
 * up to e (shop time zone $3, events before the end of the date $4 only); and the units of the 7 days
 * after e (the label; 0 for e = D, whose week is not known).
 */
export const STOCK_FEATURES = `
  with ends as (select unnest($2::date[]) as e),
  sales as (
    select p.source, p.product_id, to_date(f.date_key::text, 'YYYYMMDD') as day, sum(f.quantity)::float8 as units
      from core.fact_order_line f join core.dim_product p using (product_key)
     where f.date_key <= $1 and f.status not in ('cancelled', 'returned')
       and f.date_key >= to_char((select min(e) from ends) - 365, 'YYYYMMDD')::int
     group by 1, 2, 3
  ), events as (
    select product_id, (event_time at time zone $3)::date as day,
           count(*) filter (where event_type = 'view')::float8 as views,
           count(*) filter (where event_type = 'cart')::float8 as carts
      from staging.raw_events
     where event_type in ('view', 'cart')
       and event_time < (($4::date + 1)::timestamp at time zone $3)
       and event_time >= (((select min(e) from ends) - 7)::timestamp at time zone $3)
     group by 1, 2
  ), products as (
    select distinct on (p.source, p.product_id, ends.e) p.source, p.product_id, ends.e,
           coalesce(p.price, 0)::float8 as price, coalesce(p.category, '') as category
      from core.dim_product p
      join ends on p.valid_from < (ends.e + 1)::timestamptz
     order by p.source, p.product_id, ends.e, p.valid_from desc
  )
  select pr.source, pr.product_id, to_char(pr.e, 'YYYY-MM-DD') as window_end, pr.price, pr.category,
         coalesce(s.units_7, 0) as units_7, coalesce(s.units_28, 0) as units_28,
         coalesce(s.sale_days_28, 0) as sale_days_28, coalesce(s.days_since, 365) as days_since,
         coalesce(s.next_units, 0) as next_units,
         coalesce(ev.views, 0) as views_7, coalesce(ev.carts, 0) as carts_7
    from products pr
    left join lateral (
      select sum(units) filter (where day > pr.e - 7 and day <= pr.e) as units_7,
             sum(units) filter (where day > pr.e - 28 and day <= pr.e) as units_28,
             count(*) filter (where day > pr.e - 28 and day <= pr.e and units > 0)::float8 as sale_days_28,
             (pr.e - max(day) filter (where day <= pr.e))::float8 as days_since,
             sum(units) filter (where day > pr.e and day <= pr.e + 7) as next_units
        from sales
       where sales.source = pr.source and sales.product_id = pr.product_id
         and day > pr.e - 365 and day <= pr.e + 7
    ) s on true
    left join lateral (
      select sum(views) as views, sum(carts) as carts from events
       where pr.source = '${EVENTS_SOURCE}' and events.product_id = pr.product_id
         and day > pr.e - 7 and day <= pr.e
    ) ev on true
   order by pr.e, pr.source, pr.product_id`;

interface FeatureRow {
  source: string;
  product_id: string;
  window_end: string;
  price: number;
  category: string;
  units_7: number;
  units_28: number;
  sale_days_28: number;
  days_since: number;
  next_units: number;
  views_7: number;
  carts_7: number;
}

export const STOCK_FEATURE_NAMES = [
  'log1p(units last 7 days)',
  'log1p(units last 28 days)',
  'sale days of the last 28',
  'log1p(days since the last sale, ≤ 365)',
  'log1p(views last 7 days)',
  'log1p(carts last 7 days)',
  'log1p(price)',
];

export interface StockDeps extends ModelDeps {
  /** The storefront's database, for products.stock; without it (or the column) stock is null. */
  shop?: pg.Pool;
}

const addDays = (date: string, days: number) => formatDay(parseDay(date) + days);

/** The products' week ahead: logistic P(sells in 7 days), Poisson units, stock and days of stock (mart.stock_outlook). */
export function createStockActivities(deps: StockDeps) {
  const { warehouse, config } = deps;
  const fitModel = createModelFitter(deps);

  async function shopStock(): Promise<{ stock: Map<string, number> | undefined; note: string }> {
    if (!deps.shop) return { stock: undefined, note: 'no shop database: stock is null' };
    const column = await deps.shop.query(
      `select 1 from information_schema.columns
        where table_name = 'products' and column_name = 'stock' and table_schema = current_schema()`,
    );
    if (column.rowCount === 0)
      return { stock: undefined, note: 'the shop database has no products.stock column: stock is null' };
    const { rows } = await deps.shop.query<{ product_id: string; stock: number }>(
      `select product_id::text as product_id, stock::float8 as stock from products`,
    );
    return {
      stock: new Map(rows.map((r) => [r.product_id, r.stock])),
      note: `stock from the shop database's products.stock (now, not as of the date), for source ${EVENTS_SOURCE}`,
    };
  }

  return {
    async fitStock(input: ModelInput): Promise<ModelStepResult> {
      return fitModel('stock', input, async (heartbeat) => {
        const D = input.date;
        const evaluationEnd = addDays(D, -7);
        const trainingEnds = Array.from({ length: STOCK_TRAINING_WINDOWS }, (_, k) =>
          addDays(D, -14 - 7 * k),
        );
        const { rows } = await warehouse.query<FeatureRow>(STOCK_FEATURES, [
          Number(D.replace(/-/g, '')),
          [D, evaluationEnd, ...trainingEnds],
          config.timezone,
          D,
        ]);
        heartbeat({ step: 'features', rows: rows.length });
        const byWindow = (end: string) => rows.filter((r) => r.window_end === end);
        const training = rows.filter((r) => trainingEnds.includes(r.window_end));
        const evaluation = byWindow(evaluationEnd);
        const scoring = byWindow(D);
        const sold = (r: FeatureRow) => (r.next_units > 0 ? 1 : 0);
        if (scoring.length < 10 || training.filter(sold).length < 10 || evaluation.filter(sold).length < 1)
          throw new NotEnoughData(
            `the stock outlook needs 10 products, 10 sales in the ${STOCK_TRAINING_WINDOWS} training weeks ending by ${addDays(D, -14)} and one in the held-out week to ${D}; there are ${scoring.length} products and ${training.filter(sold).length} and ${evaluation.filter(sold).length} product-weeks with sales`,
          );

        const categoryCounts = new Map<string, number>();
        for (const r of scoring) categoryCounts.set(r.category, (categoryCounts.get(r.category) ?? 0) + 1);
        const categories = [...categoryCounts]
          .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
          .slice(0, CATEGORY_FEATURES)
          .map(([c]) => c);
        const raw = (r: FeatureRow) => [
          Math.log1p(r.units_7),
          Math.log1p(r.units_28),
          r.sale_days_28,
          Math.log1p(Math.min(r.days_since, 365)),
          Math.log1p(r.views_7),
          Math.log1p(r.carts_7),
          Math.log1p(Math.max(r.price, 0)),
          ...categories.map((c) => (r.category === c ? 1 : 0)),
        ];
        const width = STOCK_FEATURE_NAMES.length + categories.length;
        const p = width + 1;
        // Standardised on the rows each model is fitted on (intercept first).
        const matrix = (fitRows: FeatureRow[], scoreRows: FeatureRow[]) => {
          const mean = new Float64Array(width);
          const sq = new Float64Array(width);
          const fitRaw = fitRows.map(raw);
          for (const x of fitRaw) x.forEach((v, j) => ((mean[j] += v), (sq[j] += v * v)));
          const std = mean.map((m, j) => {
            const mu = m / fitRows.length;
            return Math.sqrt(Math.max(sq[j] / fitRows.length - mu * mu, 0)) || 1;
          });
          mean.forEach((m, j) => (mean[j] = m / fitRows.length));
          const build = (values: number[][]) => {
            const X = new Float64Array(values.length * p);
            values.forEach((x, i) => {
              X[i * p] = 1;
              x.forEach((v, j) => (X[i * p + 1 + j] = (v - mean[j]) / std[j]));
            });
            return X;
          };
          return { fit: build(fitRaw), score: build(scoreRows.map(raw)) };
        };

        // Evaluation: trained on the windows ending by D − 14, scored on the week to D.
        const heldOut = matrix(training, evaluation);
        const soldTraining = Float64Array.from(training, sold);
        const unitsTraining = Float64Array.from(training, (r) => r.next_units);
        const logistic = fitLogistic(heldOut.fit, soldTraining, p, LAMBDA);
        const poisson = fitPoisson(heldOut.fit, unitsTraining, p, LAMBDA);
        const labels = Float64Array.from(evaluation, sold);
        const probability = predictProbability(heldOut.score, logistic.coefficients, p);
        const expected = predictCount(heldOut.score, poisson.coefficients, p);
        // Baseline: "sold last week", as a probability: the training share of sellers among those that did and did not sell.
        const shareAfter = (lastWeek: boolean) => {
          const group = training.filter((r) => r.units_7 > 0 === lastWeek);
          return (group.filter(sold).length + 0.5) / (group.length + 1);
        };
        const [pSold, pNotSold] = [shareAfter(true), shareAfter(false)];
        const baseline = Float64Array.from(evaluation, (r) => (r.units_7 > 0 ? pSold : pNotSold));
        const mae = (predicted: ArrayLike<number>) =>
          evaluation.reduce((s, r, i) => s + Math.abs(r.next_units - predicted[i]), 0) / evaluation.length;
        const metricsOf = (scores: ArrayLike<number>, units: ArrayLike<number>) => ({
          auc: Number(auc(scores, labels).toFixed(4)),
          logLoss: Number(logLoss(scores, labels).toFixed(4)),
          unitsMae: Number(mae(units).toFixed(4)),
        });
        const evaluationMetrics = {
          model: metricsOf(probability, expected),
          'sold last week': metricsOf(
            baseline,
            evaluation.map((r) => r.units_7),
          ),
        };

        // Served: refitted on every window whose week is known (ending by D − 7), scored on D.
        heartbeat({ step: 'refit' });
        const known = [...training, ...evaluation];
        const served = matrix(known, scoring);
        const finalLogistic = fitLogistic(served.fit, Float64Array.from(known, sold), p, LAMBDA);
        const finalPoisson = fitPoisson(
          served.fit,
          Float64Array.from(known, (r) => r.next_units),
          p,
          LAMBDA,
        );
        const probabilities = predictProbability(served.score, finalLogistic.coefficients, p);
        const units = predictCount(served.score, finalPoisson.coefficients, p);
        const order = scoring
          .map((_, i) => i)
          .sort(
            (a, b) =>
              units[b] - units[a] ||
              probabilities[b] - probabilities[a] ||
              (scoring[a].product_id < scoring[b].product_id ? -1 : 1),
          );
        const rank = new Int32Array(scoring.length);
        order.forEach((i, position) => (rank[i] = position + 1));
        const stock = await shopStock();
        const m = evaluationMetrics.model;
        const b = evaluationMetrics['sold last week'];
        return {
          parameters: {
            features: [...STOCK_FEATURE_NAMES, ...categories.map((c) => `category ${c || '(none)'}`)],
            standardised: 'z-scores on the fitted rows',
            lambda: LAMBDA,
            trainingWindows: STOCK_TRAINING_WINDOWS,
            trainedUpTo: addDays(D, -14),
            evaluatedUpTo: D,
            servedFrom: `refitted on the windows ending by ${evaluationEnd}`,
            stock: stock.note,
            logistic: Array.from(finalLogistic.coefficients, (v) => Number(v.toFixed(5))),
            poisson: Array.from(finalPoisson.coefficients, (v) => Number(v.toFixed(5))),
          },
          metrics: {
            products: scoring.length,
            trainingRows: training.length,
            evaluationRows: evaluation.length,
            soldInHeldOutWeek: labels.reduce((s, v) => s + v, 0),
            converged:
              logistic.converged && poisson.converged && finalLogistic.converged && finalPoisson.converged,
            evaluation: evaluationMetrics,
          },
          trainingRows: known.length,
          outputRows: scoring.length,
          backend: FLOAT64_JS,
          headline: `${scoring.length} products; held-out week AUC ${m.auc} vs ${b.auc} (sold last week), log loss ${m.logLoss} vs ${b.logLoss}`,
          write: async (client, versionId) => {
            await clearMartDate(client, 'mart.stock_outlook', D);
            const writer = new CopyWriter(client, 'mart.stock_outlook', [
              'as_of',
              'source',
              'product_id',
              'probability_sells_7d',
              'expected_units_7d',
              'stock',
              'days_of_stock',
              'rank',
              'version_id',
            ]);
            for (let i = 0; i < scoring.length; i++) {
              const r = scoring[i];
              const onHand = r.source === EVENTS_SOURCE ? stock.stock?.get(r.product_id) : undefined;
              const perDay = units[i] / 7;
              await writer.write([
                D,
                r.source,
                r.product_id,
                String(probabilities[i]),
                String(units[i]),
                onHand === undefined ? null : String(onHand),
                onHand === undefined || perDay <= 0 ? null : String(Math.max(onHand, 0) / perDay),
                String(rank[i]),
                String(versionId),
              ]);
            }
            return writer.end();
          },
        };
      });
    },
  };
}
