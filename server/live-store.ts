import type pg from 'pg';

/** The channel the events insert notifies when it stored something; the live stream listens on it. */
export const LIVE_CHANNEL = 'cartflow_live';

/** Buckets start at multiples of their width from this instant (UTC midnight): whole minutes in any zone. */
const ORIGIN = `timestamptz '2000-01-01 00:00:00+00'`;

/**
 * Common table expressions that add the newly stored events (the CTE named `fresh`, with the columns
 * of the events insert) to the live aggregates: one grouped upsert per table, inside the statement
 * that stores the events, so they commit or roll back together and a duplicate (not in `fresh`) is
 * never counted. Rows are upserted in key order, so concurrent batches lock them in the same order.
 * `live_notified` notifies the live stream once when anything was stored; the statement must read it.
 */
export const LIVE_AGGREGATE_CTES = `
  live_revenue as (
    insert into mart.live_revenue_5m as r (bucket, revenue, units, purchases)
    select date_bin('5 minutes', event_time, ${ORIGIN}), sum(price * quantity), sum(quantity), count(*)
      from fresh where event_type = 'purchase' group by 1 order by 1
    on conflict (bucket) do update
      set revenue = r.revenue + excluded.revenue, units = r.units + excluded.units,
          purchases = r.purchases + excluded.purchases, updated_at = now()
  ), live_products as (
    insert into mart.live_product_sales as p (bucket, product_id, units, revenue)
    select date_bin('15 minutes', event_time, ${ORIGIN}), product_id, sum(quantity), sum(price * quantity)
      from fresh where event_type = 'purchase' group by 1, 2 order by 1, 2
    on conflict (bucket, product_id) do update
      set units = p.units + excluded.units, revenue = p.revenue + excluded.revenue
  ), live_session_rows as (
    insert into mart.live_sessions as s
      (user_session, user_id, first_event_at, last_event_at, last_view_at, last_cart_at, last_purchase_at)
    select user_session, max(user_id), min(event_time), max(event_time),
           max(event_time) filter (where event_type = 'view'),
           max(event_time) filter (where event_type = 'cart'),
           max(event_time) filter (where event_type = 'purchase')
      from fresh group by user_session order by user_session
    on conflict (user_session) do update
      set first_event_at = least(s.first_event_at, excluded.first_event_at),
          last_event_at = greatest(s.last_event_at, excluded.last_event_at),
          last_view_at = greatest(s.last_view_at, excluded.last_view_at),
          last_cart_at = greatest(s.last_cart_at, excluded.last_cart_at),
          last_purchase_at = greatest(s.last_purchase_at, excluded.last_purchase_at)
  ), live_notified as (
    select pg_notify('${LIVE_CHANNEL}', '') is null as notified where exists (select 1 from fresh)
  )`;

/**
 * Recomputes the live aggregates from staging.raw_events, in one transaction (readers see the old
 * figures until it commits). Nothing needs it in normal operation — the aggregates are kept with each
 * insert — but it restores them after someone truncated them, or checks them against the events.
 */
export async function rebuildLiveAggregates(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('lock table mart.live_revenue_5m, mart.live_product_sales, mart.live_sessions');
    await client.query('truncate mart.live_revenue_5m, mart.live_product_sales, mart.live_sessions');
    await client.query(
      `with fresh as (select * from staging.raw_events), ${LIVE_AGGREGATE_CTES}
       select count(*) from live_notified`,
    );
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
