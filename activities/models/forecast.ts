import { useTensorFlow } from '../../ml/backend';
import {
  forecastSeries,
  learnClosedWeekdays,
  MIN_HISTORY_DAYS,
  type AccuracyMetrics,
  type Backtest,
  type IntervalScale,
  type ServedForecast,
} from '../../ml/forecast';
import { formatDay, holidayCalendar, parseDay } from '../../ml/holidays';
import type { ModelStepResult } from '../../contracts/model-summary';
import { CopyWriter } from '../../lib/copy';
import { createModelFitter, dateKey, NotEnoughData, type ModelDeps, type ModelInput } from './fit';
import { clearMartDate } from './versions';

/** Days ahead of the logical date the forecasts cover (the first 7 are the week ahead). */
export const FORECAST_DAYS = 30;
/** The longest history a forecast reads, in days up to the date. */
export const FORECAST_HISTORY_DAYS = 3 * 365;
/** A run of at least this many days without any order ends the usable history: it starts after it. */
export const HISTORY_GAP_DAYS = 14;
/** Best sellers are ranked by units over this many days up to the date. */
export const TOP_PRODUCTS_DAYS = 90;

/**
 * The shop's daily net revenue and orders from $2 to $1 (date keys): net revenue is the net amount of
 * every line that is not cancelled, less nothing for an order the shop marks returned (its positive
 * lines are left out: the money went back) and with the negative lines of a return document (Online
 * Retail's) subtracted on their own day; orders are distinct orders neither cancelled nor returned.
 */
export const SHOP_DAILY = `
  select date_key,
         coalesce(sum(net_amount) filter (where status <> 'returned' or net_amount < 0), 0)::float8 as revenue,
         count(distinct order_id) filter (where status <> 'returned')::int as orders
    from core.fact_order_line
   where date_key between $2 and $1 and status <> 'cancelled'
   group by date_key`;

/**
 * Daily units from $2 to $1 of the $4 best sellers by units over $3 .. $1 (ties by source and product
 * id). Units are the quantities of lines neither cancelled nor returned: demand, not net of returns.
 */
export const TOP_PRODUCT_UNITS = `
  with top as (
    select p.source, p.product_id
      from core.fact_order_line f join core.dim_product p using (product_key)
     where f.date_key between $3 and $1 and f.status not in ('cancelled', 'returned')
     group by p.source, p.product_id
    having sum(f.quantity) > 0
     order by sum(f.quantity) desc, p.source, p.product_id
     limit $4
  )
  select t.source, t.product_id, f.date_key, sum(f.quantity)::float8 as units
    from top t
    join core.dim_product p on p.source = t.source and p.product_id = t.product_id
    join core.fact_order_line f on f.product_key = p.product_key
   where f.date_key between $2 and $1 and f.status not in ('cancelled', 'returned')
   group by t.source, t.product_id, f.date_key`;

const dayOfKey = (key: number) =>
  parseDay(`${String(key).slice(0, 4)}-${String(key).slice(4, 6)}-${String(key).slice(6, 8)}`);
const keyOfDay = (day: number) => dateKey(formatDay(day));

/** One series' backtest as the version's metrics keep it. */
export interface SeriesBacktest {
  series: 'revenue' | 'orders' | 'units';
  product_source?: string;
  product_id?: string;
  method: ServedForecast['method'];
  reason?: string;
  /** The candidate served (the model's combination, or a baseline) and its weights. */
  candidate: string;
  weights: Record<string, number>;
  transform: string;
  yearly: boolean;
  origins: number;
  additive: AccuracyMetrics;
  seasonal_naive: AccuracyMetrics;
  weekday_mean: AccuracyMetrics;
  /** The forecast as served at each origin (the candidate chosen on the origins before it). */
  served: AccuracyMetrics;
  /** The model's coverage with its simulated intervals before the calibration. */
  additiveUncalibrated: Backtest['additiveUncalibrated'];
  /** The calibration factors of the served intervals and the backtest days they came from. */
  intervalScale: IntervalScale;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));
const rounded = (m: AccuracyMetrics): AccuracyMetrics => ({
  mae: round(m.mae, 4),
  smape: round(m.smape, 2),
  coverage80: round(m.coverage80, 3),
  coverage95: round(m.coverage95, 3),
});

/**
 * The first day of the usable history: after the last run of HISTORY_GAP_DAYS or more days without
 * an order (a closed shop, or a log whose dates are known only to the month: every sale on the 1st).
 */
export function usableHistoryStart(orders: Float64Array): number {
  let start = 0;
  let run = 0;
  for (let i = 0; i < orders.length; i++) {
    run = orders[i] === 0 ? run + 1 : 0;
    if (run >= HISTORY_GAP_DAYS) start = i + 1;
  }
  // Leading days before the first order are not history either.
  while (start < orders.length && orders[start] === 0) start++;
  return start;
}

/**
 * The forecasts' activity (docs/models-forecast.md): reads the daily series as of the date, fits and
 * backtests each on the TensorFlow.js backend, and writes 30 days ahead per series to mart.forecast.
 */
export function createForecastActivities(deps: ModelDeps) {
  const { warehouse, config } = deps;
  const fitModel = createModelFitter(deps);
  const settings = config.models.forecast;

  return {
    /** Daily revenue, orders and best sellers' units, 30 days ahead with intervals (mart.forecast). */
    async fitForecast(input: ModelInput): Promise<ModelStepResult> {
      return fitModel('forecast', input, async (heartbeat) => {
        const backend = await useTensorFlow(config.ml.backend);
        const lastDay = parseDay(input.date);
        const earliest = await warehouse.query<{ first_key: number | null }>(
          `select min(date_key) as first_key from core.fact_order_line where date_key <= $1 and status <> 'cancelled'`,
          [dateKey(input.date)],
        );
        const firstKey = earliest.rows[0].first_key;
        if (firstKey === null) throw new NotEnoughData('there is no sale up to the date to forecast from');
        const readFrom = Math.max(dayOfKey(firstKey), lastDay - FORECAST_HISTORY_DAYS + 1);
        const days = lastDay - readFrom + 1;
        const shop = await warehouse.query<{ date_key: number; revenue: number; orders: number }>(
          SHOP_DAILY,
          [dateKey(input.date), keyOfDay(readFrom)],
        );
        const revenueAll = new Float64Array(days);
        const ordersAll = new Float64Array(days);
        for (const r of shop.rows) {
          const i = dayOfKey(r.date_key) - readFrom;
          revenueAll[i] = r.revenue;
          ordersAll[i] = r.orders;
        }
        const start = usableHistoryStart(ordersAll);
        const firstDay = readFrom + start;
        const historyDays = days - start;
        if (historyDays < MIN_HISTORY_DAYS)
          throw new NotEnoughData(
            `forecasts need ${MIN_HISTORY_DAYS} days of daily sales since the last ${HISTORY_GAP_DAYS}-day gap without orders, and there are ${historyDays} (from ${formatDay(firstDay)})`,
          );
        const series: {
          series: SeriesBacktest['series'];
          source: string;
          product: string;
          values: Float64Array;
        }[] = [
          { series: 'revenue', source: '', product: '', values: revenueAll.slice(start) },
          { series: 'orders', source: '', product: '', values: ordersAll.slice(start) },
        ];
        if (settings.topProducts > 0) {
          const units = await warehouse.query<{
            source: string;
            product_id: string;
            date_key: number;
            units: number;
          }>(TOP_PRODUCT_UNITS, [
            dateKey(input.date),
            keyOfDay(firstDay),
            keyOfDay(lastDay - TOP_PRODUCTS_DAYS + 1),
            settings.topProducts,
          ]);
          const byProduct = new Map<string, (typeof series)[number]>();
          for (const r of units.rows) {
            const key = `${r.source}\u0000${r.product_id}`;
            let entry = byProduct.get(key);
            if (!entry) {
              entry = {
                series: 'units',
                source: r.source,
                product: r.product_id,
                values: new Float64Array(historyDays),
              };
              byProduct.set(key, entry);
            }
            entry.values[dayOfKey(r.date_key) - firstDay] = r.units;
          }
          const ordered = [...byProduct.values()].sort((a, b) =>
            a.source === b.source ? (a.product < b.product ? -1 : 1) : a.source < b.source ? -1 : 1,
          );
          series.push(...ordered);
        }
        for (const s of series)
          for (const v of s.values)
            if (!Number.isFinite(v))
              throw new Error(
                `the ${s.series} series${s.product ? ` of product ${s.product}` : ''} has a value that is not a finite number: find the order line with a NaN or infinite amount in core.fact_order_line and fix it at the source`,
              );

        // The shop's closed weekdays, learnt from its orders, hold for every series (a product sells nothing when the shop is closed).
        const closedWeekdays = learnClosedWeekdays(series[1].values, firstDay, 4);
        // The country's public holidays and the shop's own dates (CARTFLOW_FORECAST_HOLIDAYS), one effect per name.
        const holidays = holidayCalendar(
          settings.country,
          firstDay,
          lastDay + FORECAST_DAYS,
          settings.customHolidays,
        );
        // Days without any order (the shop closed, outside its closed weekdays) are left out of every fit.
        const skipDays = Array.from(series[1].values.entries())
          .filter(([, orders]) => orders === 0)
          .map(([i]) => firstDay + i);
        const timings: number[] = [];
        const results = series.map((s, index) => {
          heartbeat({ step: 'forecast', series: index, of: series.length });
          const started = Date.now();
          const served = forecastSeries(s.values, firstDay, {
            horizon: FORECAST_DAYS,
            holidays,
            closedWeekdays,
            skipDays,
            seed: config.models.seed,
          });
          timings.push(Date.now() - started);
          return served;
        });
        const backtests: SeriesBacktest[] = series.map((s, i) => {
          const r = results[i];
          return {
            series: s.series,
            ...(s.product ? { product_source: s.source, product_id: s.product } : {}),
            method: r.method,
            ...(r.reason ? { reason: r.reason } : {}),
            candidate: r.candidate.name,
            weights: Object.fromEntries(
              Object.entries(r.candidate.weights).map(([source, w]) => [source, round(w!, 3)]),
            ),
            transform: r.model.transform,
            yearly: r.model.yearly,
            origins: r.backtest.origins,
            additive: rounded(r.backtest.additive),
            seasonal_naive: rounded(r.backtest.seasonal_naive),
            weekday_mean: rounded(r.backtest.weekday_mean),
            served: rounded(r.backtest.served),
            additiveUncalibrated: {
              coverage80: round(r.backtest.additiveUncalibrated.coverage80, 3),
              coverage95: round(r.backtest.additiveUncalibrated.coverage95, 3),
            },
            intervalScale: {
              c80: round(r.backtest.intervalScale.c80, 3),
              c95: round(r.backtest.intervalScale.c95, 3),
              points: r.backtest.intervalScale.points,
            },
          };
        });
        const servedBy = { additive: 0, seasonal_naive: 0, weekday_mean: 0 };
        for (const r of results) servedBy[r.method]++;
        const meanOf = (pick: (b: SeriesBacktest) => number) =>
          round(backtests.reduce((sum, b) => sum + pick(b), 0) / backtests.length, 2);
        const summary = {
          additive: meanOf((b) => b.additive.smape),
          seasonal_naive: meanOf((b) => b.seasonal_naive.smape),
          weekday_mean: meanOf((b) => b.weekday_mean.smape),
          served: meanOf((b) => b.served.smape),
        };
        const notes = [...new Set(results.flatMap((r) => r.model.notes))];
        const totalMs = timings.reduce((a, b) => a + b, 0);
        return {
          parameters: {
            model:
              'additive: piecewise-linear trend (25 changepoints, Laplace 0.05), weekly order 3, yearly order 10 from 730 days, holidays; served as the mean in log1p units of the model on log1p and on the series as it is, each half with its trend extrapolated and half held flat (series with a negative day: as it is), unless a baseline had an sMAPE 20% lower on the last 8 backtest origins',
            horizonDays: FORECAST_DAYS,
            backtest:
              'rolling origin, 8 weekly origins, 7 days ahead; intervals calibrated (split conformal) on the 8 origins before each',
            country: settings.country,
            customHolidays: [...new Set(settings.customHolidays.map((h) => h.name))],
            topProducts: settings.topProducts,
            historyFrom: formatDay(firstDay),
            historyDays,
            closedWeekdays,
            holidays: [...new Set(holidays.map((h) => h.name))],
            seed: config.models.seed,
          },
          metrics: {
            series: series.length,
            servedBy,
            meanSmape: summary,
            notes,
            fitMsPerSeries: round(totalMs / series.length, 1),
            backtest: backtests,
          },
          trainingRows: historyDays * series.length,
          outputRows: series.length * FORECAST_DAYS,
          backend: backend.name,
          headline:
            `${series.length} series ${FORECAST_DAYS} days ahead from ${historyDays} days; backtest sMAPE model ${summary.additive}%,` +
            ` seasonal naive ${summary.seasonal_naive}%, weekday mean ${summary.weekday_mean}%; ${servedBy.additive} served by the model`,
          write: async (client, versionId) => {
            await clearMartDate(client, 'mart.forecast', input.date);
            const writer = new CopyWriter(client, 'mart.forecast', [
              'as_of',
              'series',
              'product_source',
              'product_id',
              'date',
              'days_ahead',
              'point',
              'lower_80',
              'upper_80',
              'lower_95',
              'upper_95',
              'method',
              'version_id',
            ]);
            for (let s = 0; s < series.length; s++) {
              const r = results[s];
              for (let h = 0; h < FORECAST_DAYS; h++)
                await writer.write([
                  input.date,
                  series[s].series,
                  series[s].source,
                  series[s].product,
                  formatDay(lastDay + 1 + h),
                  String(h + 1),
                  String(r.point[h]),
                  String(r.lower80[h]),
                  String(r.upper80[h]),
                  String(r.lower95[h]),
                  String(r.upper95[h]),
                  r.method,
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
