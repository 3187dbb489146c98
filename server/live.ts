import type pg from 'pg';
import type { Logger } from '../lib/log';
import { LIVE_CHANNEL } from './live-store';

/** What the live page shows, computed from the live aggregates (server/live-store.ts) in one query. */
export interface LiveSnapshot {
  /** When it was computed (the database's clock), ISO. */
  at: string;
  timezone: string;
  /** Today's date in the shop's time zone, and the instant it began. */
  today: string;
  todayStart: string;
  /** Today's 5-minute buckets with purchases, and those of the same weekday a week ago shifted onto today. */
  revenue: { bucket: string; revenue: number; units: number; purchases: number }[];
  lastWeek: { bucket: string; revenue: number; units: number; purchases: number }[];
  totals: { revenue: number; units: number; purchases: number; lastWeekSoFar: number; lastWeekDay: number };
  funnel: { today: Funnel; lastHour: Funnel };
  /** Sales per product today, by revenue, at most 20; name from core.dim_product when it is known. */
  products: { productId: string; name: string | null; units: number; revenue: number }[];
  carts: { active: number; abandoned: number; emailed: number; recovered: number; recoveredRevenue: number };
  /**
   * The shop's payments arrive with the daily pipeline (core.fact_payment), not as events: the latest
   * day up to today that has any, settled (captured less refunded; failed count nothing), beside the
   * purchase events' revenue of that day; `day` is null before any payment was loaded.
   */
  payments: {
    day: string | null;
    settled: number;
    captured: number;
    refunded: number;
    failed: number;
    eventsRevenue: number;
    /** The latest succeeded daily run's logical date. */
    lastRun: string | null;
  };
}

export interface Funnel {
  viewed: number;
  carted: number;
  purchased: number;
  /** carted / viewed and purchased / carted; null when the denominator is 0. */
  cartRate: number | null;
  purchaseRate: number | null;
}

export function funnelOf(viewed: number, carted: number, purchased: number): Funnel {
  return {
    viewed,
    carted,
    purchased,
    cartRate: viewed > 0 ? carted / viewed : null,
    purchaseRate: carted > 0 ? purchased / carted : null,
  };
}

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/** Reads the live figures for "now" in the shop's time zone; carts count as active for `sessionIdleMs`. */
export async function liveSnapshot(
  db: pg.Pool,
  options: { timezone: string; sessionIdleMs: number },
): Promise<LiveSnapshot> {
  const { rows } = await db.query<{ snapshot: Omit<LiveSnapshot, 'funnel'> & { funnel: number[] } }>(
    `with b as (
       select now() as now,
              (date_trunc('day', now() at time zone $1) at time zone $1) as start,
              (date_trunc('day', now() at time zone $1) - interval '7 days') at time zone $1 as week_start,
              (date_trunc('day', now() at time zone $1) - interval '6 days') at time zone $1 as week_end
     ), today as (
       select r.* from mart.live_revenue_5m r, b where r.bucket >= b.start order by r.bucket
     ), week as (
       select r.*, r.bucket + (b.start - b.week_start) as shifted, r.bucket < b.now - (b.start - b.week_start) as so_far
         from mart.live_revenue_5m r, b where r.bucket >= b.week_start and r.bucket < b.week_end order by r.bucket
     ), products as (
       select s.product_id, sum(s.units)::float8 as units, sum(s.revenue)::float8 as revenue
         from mart.live_product_sales s, b where s.bucket >= b.start
        group by s.product_id order by sum(s.revenue) desc, s.product_id limit 20
     ), names as (
       select distinct on (product_id) product_id, name from core.dim_product
        where is_current and product_id in (select product_id from products) order by product_id, source
     ), sessions as (
       select count(*) filter (where last_view_at >= b.start) as v_day,
              count(*) filter (where last_cart_at >= b.start) as c_day,
              count(*) filter (where last_purchase_at >= b.start) as p_day,
              count(*) filter (where last_view_at >= b.now - interval '1 hour') as v_hour,
              count(*) filter (where last_cart_at >= b.now - interval '1 hour') as c_hour,
              count(*) filter (where last_purchase_at >= b.now - interval '1 hour') as p_hour,
              count(*) filter (where last_cart_at is not null
                                 and last_cart_at > coalesce(last_purchase_at, '-infinity')
                                 and last_event_at > b.now - $2 * interval '1 millisecond') as active
         from mart.live_sessions, b
        where last_event_at >= least(b.start, b.now - interval '1 hour', b.now - $2 * interval '1 millisecond')
     ), pay_day as (
       select max(date_key) as day_key from core.fact_payment, b
        where date_key <= to_char(b.now at time zone $1, 'YYYYMMDD')::int
     ), pay as (
       select to_date(d.day_key::text, 'YYYYMMDD') as day,
              coalesce(sum(case when p.status = 'refunded' then -abs(p.amount)
                                when p.status = 'failed' then 0 else p.amount end), 0)::float8 as settled,
              count(p.*) filter (where p.status = 'captured') as captured,
              count(p.*) filter (where p.status = 'refunded') as refunded,
              count(p.*) filter (where p.status = 'failed') as failed
         from pay_day d left join core.fact_payment p on p.date_key = d.day_key
        group by d.day_key
     )
     select json_build_object(
       'at', to_char(b.now at time zone 'UTC', ${ISO}),
       'timezone', $1::text,
       'today', to_char(b.now at time zone $1, 'YYYY-MM-DD'),
       'todayStart', to_char(b.start at time zone 'UTC', ${ISO}),
       'revenue', coalesce((select json_agg(json_build_object('bucket', to_char(bucket at time zone 'UTC', ${ISO}),
           'revenue', revenue::float8, 'units', units, 'purchases', purchases)) from today), '[]'),
       'lastWeek', coalesce((select json_agg(json_build_object('bucket', to_char(shifted at time zone 'UTC', ${ISO}),
           'revenue', revenue::float8, 'units', units, 'purchases', purchases)) from week), '[]'),
       'totals', json_build_object(
           'revenue', coalesce((select sum(revenue) from today), 0)::float8,
           'units', coalesce((select sum(units) from today), 0)::float8,
           'purchases', coalesce((select sum(purchases) from today), 0)::float8,
           'lastWeekSoFar', coalesce((select sum(revenue) from week where so_far), 0)::float8,
           'lastWeekDay', coalesce((select sum(revenue) from week), 0)::float8),
       'funnel', (select json_build_array(v_day, c_day, p_day, v_hour, c_hour, p_hour) from sessions),
       'products', coalesce((select json_agg(json_build_object('productId', p.product_id, 'name', n.name,
           'units', p.units, 'revenue', p.revenue) order by p.revenue desc, p.product_id)
           from products p left join names n using (product_id)), '[]'),
       'carts', json_build_object(
           'active', (select active from sessions),
           'abandoned', (select count(*) from core.fact_cart_session where abandoned_at >= b.start),
           'emailed', (select count(*) from core.fact_retargeting where decision = 'sent' and sent_at >= b.start),
           'recovered', (select count(*) from core.fact_cart_session where outcome = 'recovered' and purchased_at >= b.start),
           'recoveredRevenue', coalesce((select sum(recovered_revenue) from core.fact_retargeting
                                          where converted_at >= b.start), 0)::float8),
       'payments', (select json_build_object(
           'day', to_char(pay.day, 'YYYY-MM-DD'), 'settled', pay.settled, 'captured', pay.captured,
           'refunded', pay.refunded, 'failed', pay.failed,
           'eventsRevenue', coalesce((select sum(r.revenue) from mart.live_revenue_5m r
                                       where r.bucket >= pay.day::timestamp at time zone $1
                                         and r.bucket < (pay.day + 1)::timestamp at time zone $1), 0)::float8,
           'lastRun', (select to_char(max(pipeline_date), 'YYYY-MM-DD') from ops.pipeline_runs where status = 'succeeded'))
         from pay)
     ) as snapshot from b`,
    [options.timezone, options.sessionIdleMs],
  );
  const { funnel, ...rest } = rows[0].snapshot;
  return {
    ...rest,
    funnel: {
      today: funnelOf(funnel[0], funnel[1], funnel[2]),
      lastHour: funnelOf(funnel[3], funnel[4], funnel[5]),
    },
  };
}

/**
 * Calls `flush` at most once per `delayMs`: the first `poke` after a flush schedules one `delayMs`
 * later, and pokes until then join it. A flush that fails is logged by the caller; the next poke
 * schedules again.
 */
export function coalescer(delayMs: number, flush: () => void): { poke(): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    poke() {
      timer ??= setTimeout(() => {
        timer = undefined;
        flush();
      }, delayMs);
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

export interface LiveHubOptions {
  warehouse: pg.Pool;
  timezone: string;
  sessionIdleMs: number;
  logger: Logger;
  /** Notifications within this many ms become one snapshot (default 250). */
  coalesceMs?: number;
  /** A snapshot is pushed this often even without events, as time moves the windows (default 30 s). */
  refreshMs?: number;
}

export type LiveListener = (snapshot: LiveSnapshot) => void;

/**
 * Pushes live snapshots to subscribers: one LISTEN connection per server on the channel the events
 * insert notifies, one snapshot query per coalesced burst, however many pages are open. It starts
 * listening with the first subscriber and reconnects when the connection drops.
 */
export class LiveHub {
  private readonly listeners = new Set<LiveListener>();
  private client: pg.PoolClient | undefined;
  /** Clients already handed back to the pool: an error event after close() must not release twice. */
  private readonly released = new WeakSet<pg.PoolClient>();
  private connecting: Promise<void> | undefined;
  private refresh: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly log: Logger;
  private readonly burst: { poke(): void; cancel(): void };
  /** Snapshots pushed, and pushes that failed: for tests and the bench. */
  pushes = 0;

  constructor(private readonly options: LiveHubOptions) {
    this.log = options.logger.scope({ component: 'live' });
    this.burst = coalescer(options.coalesceMs ?? 250, () => void this.push());
  }

  snapshot(): Promise<LiveSnapshot> {
    return liveSnapshot(this.options.warehouse, this.options);
  }

  /** Adds a listener; the returned function removes it. */
  async subscribe(listener: LiveListener): Promise<() => void> {
    if (this.closed) throw new Error('The live stream is closed');
    this.listeners.add(listener);
    await this.listen();
    this.refresh ??= setInterval(() => this.burst.poke(), this.options.refreshMs ?? 30_000);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  private listen(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= (async () => {
      try {
        const client = await this.options.warehouse.connect();
        client.on('notification', () => this.burst.poke());
        client.on('error', (error) => {
          this.log.warn('The live stream lost its database connection; reconnecting', {
            error: error.message,
          });
          this.release(client, error);
          if (this.client === client) this.client = undefined;
          setTimeout(() => {
            if (!this.closed && this.listeners.size > 0) void this.listen().then(() => this.burst.poke());
          }, 1000).unref();
        });
        try {
          await client.query(`listen ${LIVE_CHANNEL}`);
        } catch (error) {
          this.release(client, error as Error);
          throw error;
        }
        this.client = client;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  private async push(): Promise<void> {
    if (this.listeners.size === 0 || this.closed) return;
    try {
      const snapshot = await this.snapshot();
      this.pushes++;
      for (const listener of this.listeners) listener(snapshot);
    } catch (error) {
      this.log.warn('Computing the live figures failed', { error: (error as Error).message });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.burst.cancel();
    if (this.refresh) clearInterval(this.refresh);
    this.listeners.clear();
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (client) {
      await client.query(`unlisten ${LIVE_CHANNEL}`).catch(() => undefined);
      this.release(client);
    }
  }

  private release(client: pg.PoolClient, error?: Error): void {
    if (this.released.has(client)) return;
    this.released.add(client);
    client.release(error);
  }
}
