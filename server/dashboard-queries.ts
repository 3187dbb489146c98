import type pg from 'pg';
import { MARTS } from '../contracts/model-summary';

/**
 * The analytical tabs' figures, one function per tab, each over the warehouse as of a logical date:
 * the facts up to and including that day, and the marts of the latest run on or before it. A tab
 * whose mart has no run answers `missing` with the command that produces it.
 */

type Row = Record<string, unknown>;

export interface Missing {
  mart: string;
  message: string;
  command: string;
}

/** A date the dashboard asked for: YYYY-MM-DD and a real day, or a clear error. */
export function parseDate(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || Number.isNaN(Date.parse(`${text}T00:00:00Z`))) {
    throw new DashboardInputError(`date must be a day as YYYY-MM-DD, e.g. 2026-11-30, not "${text}"`);
  }
  if (new Date(`${text}T00:00:00Z`).toISOString().slice(0, 10) !== text) {
    throw new DashboardInputError(`${text} is not a day of the calendar`);
  }
  return text;
}

export class DashboardInputError extends Error {}

/** The latest logical date ≤ `date` (or the latest at all) that `mart.<name>` has rows for. */
export async function martDate(db: pg.Pool, mart: keyof typeof MARTS, date?: string): Promise<string | null> {
  const { rows } = await db.query<{ as_of: string | null }>(
    `select to_char(max(as_of), 'YYYY-MM-DD') as as_of from mart.${mart} where $1::date is null or as_of <= $1::date`,
    [date ?? null],
  );
  return rows[0]?.as_of ?? null;
}

function missing(mart: keyof typeof MARTS, date?: string): Missing {
  const model = MARTS[mart];
  return {
    mart: `mart.${mart}`,
    message: `mart.${mart} has no run${date ? ` on or before ${date}` : ''}: the ${model} model has not run yet.`,
    command: date ? `cartflow run daily --date ${date}` : 'cartflow run daily',
  };
}

/** The logical dates the marts have, newest first, and the latest day with order facts: the date picker. */
export async function availableDates(db: pg.Pool): Promise<{ dates: string[]; latestFacts: string | null }> {
  const { rows } = await db.query<{ as_of: string }>(
    `select distinct to_char(as_of, 'YYYY-MM-DD') as as_of from ops.model_versions
      where status = 'succeeded' order by 1 desc limit 400`,
  );
  const facts = await db.query<{ day: string | null }>(
    `select to_char(max(placed_at) at time zone 'UTC', 'YYYY-MM-DD') as day from core.fact_order_line`,
  );
  return { dates: rows.map((r) => r.as_of), latestFacts: facts.rows[0]?.day ?? null };
}

/** An order counts as sold unless it was cancelled or returned. */
const SOLD = `l.status not in ('cancelled', 'returned')`;

/** The Sales tab: monthly revenue and growth, order values, placed vs cancelled, by place and category. */
export async function salesTab(db: pg.Pool, date?: string): Promise<Row> {
  const asOf = date ?? (await availableDates(db)).latestFacts;
  if (!asOf) {
    return {
      missing: {
        mart: 'core.fact_order_line',
        message: 'The warehouse has no orders yet.',
        command: 'cartflow simulate, then cartflow run daily',
      },
    };
  }
  const upTo = Number(asOf.replace(/-/g, ''));
  const query = async (sql: string) => (await db.query(sql, [upTo])).rows;
  const monthly = await query(
    `with orders as (
       select date_trunc('month', d.date)::date as month, l.order_id, bool_or(${SOLD}) as sold,
              sum(l.net_amount) filter (where ${SOLD}) as value
         from core.fact_order_line l join core.dim_date d using (date_key)
        where l.date_key <= $1 group by 1, 2
     ), months as (
       select month, coalesce(sum(value), 0) as revenue, count(*) filter (where sold) as orders,
              count(*) filter (where not sold) as cancelled
         from orders group by month
     )
     select to_char(month, 'YYYY-MM') as month, round(revenue, 2)::float8 as revenue, orders::int, cancelled::int,
            round(revenue / nullif(orders, 0), 2)::float8 as average_order_value,
            round(100 * (revenue / nullif(lag(revenue) over (order by month), 0) - 1), 1)::float8 as growth_pct
       from months order by month desc limit 24`,
  );
  const distribution = await query(
    `with orders as (
       select l.order_id, sum(l.net_amount) as value from core.fact_order_line l
        where l.date_key <= $1 and ${SOLD} group by 1
     ), top as (select percentile_cont(0.99) within group (order by value) as p99 from orders)
     select round(((b - 1) * top.p99 / 20)::numeric, 2)::float8 as from_value,
            round((b * top.p99 / 20)::numeric, 2)::float8 as to_value,
            count(o.order_id)::int as orders
       from top cross join generate_series(1, 20) b
       left join orders o on width_bucket(least(o.value, top.p99), 0, greatest(top.p99, 0.01), 20) = b
                          or (b = 20 and o.value >= top.p99)
      group by b, top.p99 order by b`,
  );
  const byPlace = await query(
    `select coalesce(c.country, '(unknown)') as country, coalesce(c.state, '') as state,
            round(sum(l.net_amount), 2)::float8 as revenue, count(distinct l.order_id)::int as orders
       from core.fact_order_line l join core.dim_customer c using (customer_key)
      where l.date_key <= $1 and ${SOLD} group by 1, 2 order by 3 desc limit 25`,
  );
  const byCategory = await query(
    `select coalesce(p.category, '(none)') as category, round(sum(l.net_amount), 2)::float8 as revenue,
            sum(l.quantity)::float8 as units
       from core.fact_order_line l join core.dim_product p using (product_key)
      where l.date_key <= $1 and ${SOLD} group by 1 order by 2 desc limit 25`,
  );
  return { asOf, monthly: monthly.reverse(), distribution, byPlace, byCategory };
}

/** The Customers tab: RFM segments, clusters, growth by month, the CLV distribution and top customers. */
export async function customersTab(db: pg.Pool, date?: string): Promise<Row> {
  const result: Row = {};
  const rfm = await martDate(db, 'rfm', date);
  result.rfm = rfm
    ? {
        asOf: rfm,
        segments: (
          await db.query(
            `select segment, min(action) as action, count(*)::int as customers,
                    round(sum(monetary), 2)::float8 as revenue,
                    round(avg(recency_days), 1)::float8 as avg_recency_days, round(avg(frequency), 2)::float8 as avg_frequency
               from mart.rfm where as_of = $1 group by segment order by customers desc`,
            [rfm],
          )
        ).rows,
      }
    : { missing: missing('rfm', date) };
  const clusters = await martDate(db, 'cluster_centroids', date);
  result.clusters = clusters
    ? {
        asOf: clusters,
        rows: (
          await db.query(
            `select cluster, cluster_name, customers, round(recency_days::numeric, 1)::float8 as recency_days,
                    round(frequency::numeric, 2)::float8 as frequency, round(monetary::numeric, 2)::float8 as monetary
               from mart.cluster_centroids where as_of = $1 order by cluster`,
            [clusters],
          )
        ).rows,
      }
    : { missing: missing('cluster_centroids', date) };
  const growth = await martDate(db, 'growth', date);
  result.growth = growth
    ? {
        asOf: growth,
        rows: (
          await db.query(
            `select to_char(month, 'YYYY-MM') as month, active, new, churned, regained, net_growth, is_partial
               from mart.growth where as_of = $1 order by month`,
            [growth],
          )
        ).rows,
      }
    : { missing: missing('growth', date) };
  const clv = await martDate(db, 'clv', date);
  result.clv = clv
    ? {
        asOf: clv,
        distribution: (
          await db.query(
            `with v as (select clv from mart.clv where as_of = $1 and clv is not null),
                  top as (select percentile_cont(0.99) within group (order by clv) as p99 from v)
             select round(((b - 1) * top.p99 / 20)::numeric, 2)::float8 as from_value,
                    round((b * top.p99 / 20)::numeric, 2)::float8 as to_value, count(v.clv)::int as customers
               from top cross join generate_series(1, 20) b
               left join v on width_bucket(least(v.clv, top.p99), 0, greatest(top.p99, 0.01), 20) = b
                           or (b = 20 and v.clv >= top.p99)
              group by b, top.p99 order by b`,
            [clv],
          )
        ).rows,
        top: (
          await db.query(
            `select m.source, m.customer_id, trim(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')) as name,
                    m.frequency, round(m.probability_alive::numeric, 3)::float8 as probability_alive,
                    round(m.expected_purchases::numeric, 2)::float8 as expected_purchases,
                    round(m.clv::numeric, 2)::float8 as clv
               from mart.clv m
               left join core.dim_customer c on c.source = m.source and c.customer_id = m.customer_id and c.is_current
              where m.as_of = $1 and m.clv is not null order by m.clv desc, m.customer_id limit 20`,
            [clv],
          )
        ).rows,
      }
    : { missing: missing('clv', date) };
  return result;
}

/** The Forecast tab: daily revenue actual against forecast with intervals, the backtest, the stock outlook. */
export async function forecastTab(db: pg.Pool, date?: string): Promise<Row> {
  const asOf = await martDate(db, 'forecast', date);
  if (!asOf) return { missing: missing('forecast', date) };
  const series = (
    await db.query(
      `with f as (
         select date, point, lower_80, upper_80, lower_95, upper_95 from mart.forecast
          where as_of = $1 and series = 'revenue' and product_id = ''
       ), actual as (
         select d.date, sum(l.net_amount) as revenue from core.fact_order_line l join core.dim_date d using (date_key)
          where d.date > $1::date - 60 and d.date <= coalesce((select max(date) from f), $1::date)
            and l.status not in ('cancelled', 'returned')
          group by d.date
       ), days as (
         select generate_series($1::date - 59, coalesce((select max(date) from f), $1::date), interval '1 day')::date as date
       )
       select to_char(days.date, 'YYYY-MM-DD') as date,
              case when days.date <= $1::date or a.revenue is not null then round(coalesce(a.revenue, 0), 2)::float8 end as actual,
              round(f.point::numeric, 2)::float8 as forecast, round(f.lower_80::numeric, 2)::float8 as lower_80,
              round(f.upper_80::numeric, 2)::float8 as upper_80, round(f.lower_95::numeric, 2)::float8 as lower_95,
              round(f.upper_95::numeric, 2)::float8 as upper_95
         from days left join actual a using (date) left join f using (date) order by days.date`,
      [asOf],
    )
  ).rows;
  const version = (
    await db.query<{ metrics: Row }>(
      `select metrics from ops.model_versions where model = 'forecast' and as_of = $1 and status = 'succeeded'
        order by version_id desc limit 1`,
      [asOf],
    )
  ).rows[0];
  // metrics.backtest: one entry per series (revenue, orders, then each best seller's units), in order.
  const backtest: Row[] = [];
  const perSeries = (Array.isArray(version?.metrics?.backtest) ? version.metrics.backtest : []) as Record<
    string,
    unknown
  >[];
  for (const entry of perSeries) {
    const name = entry.product_id
      ? `${String(entry.series)} ${String(entry.product_id)}`
      : String(entry.series);
    for (const method of ['additive', 'seasonal_naive', 'weekday_mean']) {
      const figures = entry[method] as Record<string, unknown> | undefined;
      if (!figures || typeof figures !== 'object') continue;
      backtest.push({
        series: name,
        method,
        served: entry.method === method,
        mae: figures.mae ?? null,
        smape: figures.smape ?? null,
        coverage80: figures.coverage80 ?? null,
        coverage95: figures.coverage95 ?? null,
      });
    }
  }
  const stockAsOf = await martDate(db, 'stock_outlook', date);
  const stock = stockAsOf
    ? {
        asOf: stockAsOf,
        rows: (
          await db.query(
            `select s.rank, s.source, s.product_id, p.name, round(s.probability_sells_7d::numeric, 3)::float8 as probability_sells_7d,
                    round(s.expected_units_7d::numeric, 1)::float8 as expected_units_7d, s.stock::float8 as stock,
                    round(s.days_of_stock::numeric, 1)::float8 as days_of_stock
               from mart.stock_outlook s
               left join core.dim_product p on p.source = s.source and p.product_id = s.product_id and p.is_current
              where s.as_of = $1 order by s.rank limit 25`,
            [stockAsOf],
          )
        ).rows,
      }
    : { missing: missing('stock_outlook', date) };
  return { asOf, series, backtest, stock };
}

/**
 * Wilson's 95% interval of a proportion, and the normal interval of a difference of two: what the
 * Retargeting tab shows for e-mailed against held-out carts.
 */
export function wilson(
  successes: number,
  trials: number,
): { rate: number | null; low: number | null; high: number | null } {
  if (trials === 0) return { rate: null, low: null, high: null };
  const z = 1.96;
  const p = successes / trials;
  const denominator = 1 + (z * z) / trials;
  const centre = (p + (z * z) / (2 * trials)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + (z * z) / (4 * trials * trials))) / denominator;
  return { rate: p, low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export function differenceInterval(
  a: { successes: number; trials: number },
  b: { successes: number; trials: number },
): { difference: number | null; low: number | null; high: number | null } {
  if (a.trials === 0 || b.trials === 0) return { difference: null, low: null, high: null };
  const pa = a.successes / a.trials;
  const pb = b.successes / b.trials;
  const se = Math.sqrt((pa * (1 - pa)) / a.trials + (pb * (1 - pb)) / b.trials);
  return { difference: pa - pb, low: pa - pb - 1.96 * se, high: pa - pb + 1.96 * se };
}

/** The Retargeting tab: the 30 days up to the date (or up to today). */
export async function retargetingTab(db: pg.Pool, date?: string): Promise<Row> {
  const { rows: bounds } = await db.query<{ upto: string }>(
    `select to_char(coalesce($1::date, current_date), 'YYYY-MM-DD') as upto`,
    [date ?? null],
  );
  const upTo = bounds[0].upto;
  const window = `decided_at >= $1::date - 29 and decided_at < $1::date + 1`;
  const decisions = (
    await db.query(
      `select decision, coalesce(reason, '') as reason, count(*)::int as carts,
              count(converted_at)::int as converted, round(coalesce(sum(recovered_revenue), 0), 2)::float8 as recovered_revenue
         from core.fact_retargeting where kind = 'abandoned' and ${window}
        group by 1, 2 order by 1, 2`,
      [upTo],
    )
  ).rows as {
    decision: string;
    reason: string;
    carts: number;
    converted: number;
    recovered_revenue: number;
  }[];
  const daily = (
    await db.query(
      `select to_char(d, 'YYYY-MM-DD') as day,
              (select count(*)::int from core.fact_cart_session where abandoned_date = d::date) as abandoned,
              (select count(*)::int from core.fact_retargeting where decision = 'sent' and sent_at >= d and sent_at < d + interval '1 day') as emailed,
              (select count(*)::int from core.fact_cart_session where outcome = 'recovered' and purchased_at >= d and purchased_at < d + interval '1 day') as recovered
         from generate_series($1::date - 29, $1::date, interval '1 day') d order by d`,
      [upTo],
    )
  ).rows;
  const sum = (decision: string, key: 'carts' | 'converted') =>
    decisions.filter((d) => d.decision === decision).reduce((s, d) => s + d[key], 0);
  const sent = { successes: sum('sent', 'converted'), trials: sum('sent', 'carts') };
  const heldOut = { successes: sum('held_out', 'converted'), trials: sum('held_out', 'carts') };
  return {
    from: daily[0]?.day,
    upTo,
    daily,
    decisions,
    conversion: {
      emailed: { ...sent, ...wilson(sent.successes, sent.trials) },
      heldOut: { ...heldOut, ...wilson(heldOut.successes, heldOut.trials) },
      uplift: differenceInterval(sent, heldOut),
    },
    recoveredRevenue: decisions.reduce((s, d) => s + d.recovered_revenue, 0),
  };
}

/** The Pipeline tab: the recent runs with rows per table and quarantine per rule, open quarantine by rule. */
export async function pipelineTab(
  db: pg.Pool,
  temporalUi?: { url: string; namespace: string },
): Promise<Row> {
  const runs = (
    await db.query<{ run_id: string; pipeline_date: string; summary: Row } & Row>(
      `select run_id, to_char(pipeline_date, 'YYYY-MM-DD') as pipeline_date, status,
              to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as started_at,
              round(extract(epoch from finished_at - started_at)::numeric, 1)::float8 as duration_s,
              summary, error
         from ops.pipeline_runs order by started_at desc limit 30`,
    )
  ).rows;
  const shaped = runs.map(({ summary, ...run }) => {
    const loads = (summary?.loads ?? []) as { source: string; table: string; rows: number }[];
    const quarantined = (summary?.quarantinedByRule ?? {}) as Record<string, number>;
    return {
      ...run,
      status: (summary?.status as string | undefined) ?? run.status,
      rows_loaded: loads.reduce((s, l) => s + (l.rows ?? 0), 0),
      tables: loads.map((l) => `${l.source}.${l.table} ${l.rows}`).join(', '),
      quarantined: Object.entries(quarantined)
        .map(([rule, n]) => `${rule} ${n}`)
        .join(', '),
      temporal_url: temporalUi
        ? `${temporalUi.url}/namespaces/${encodeURIComponent(temporalUi.namespace)}/workflows/daily-${run.pipeline_date}/${encodeURIComponent(run.run_id)}/history`
        : null,
    };
  });
  const quarantine = (
    await db.query(
      `select source, entity, rule, count(*)::int as rows,
              to_char(max(last_seen_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as last_seen
         from ops.quarantine where resolved_at is null group by 1, 2, 3 order by rows desc limit 50`,
    )
  ).rows;
  return { runs: shaped, quarantine };
}
