import crypto from 'node:crypto';
import type pg from 'pg';
import { createPool } from '../../lib/db';
import { createLogger } from '../../lib/log';
import type { IncomingEvent } from '../../server/events-schema';
import { storeEvents } from '../../server/events-store';
import { LiveHub, liveSnapshot, type LiveSnapshot } from '../../server/live';
import { rebuildLiveAggregates } from '../../server/live-store';
import { createTestDatabases, type TestDatabases } from '../helpers/services';

const OPTIONS = { timezone: 'UTC', sessionIdleMs: 30 * 60_000 };

function event(overrides: Partial<IncomingEvent>): IncomingEvent {
  return {
    event_id: crypto.randomUUID(),
    event_time: new Date().toISOString(),
    event_type: 'view',
    user_id: '1',
    user_session: `s-${crypto.randomUUID()}`,
    product_id: '101',
    price: 10,
    quantity: 1,
    ...overrides,
  } as IncomingEvent;
}

describe('live aggregates kept by the events insert, on real Postgres', () => {
  let databases: TestDatabases;
  let pool: pg.Pool;

  beforeAll(async () => {
    databases = await createTestDatabases('dashboard_live');
    pool = createPool(databases.warehouseUrl, 'test');
  });
  afterAll(async () => {
    await pool?.end();
    await databases?.drop();
  });

  const buckets = async () =>
    (
      await pool.query<{ bucket: string; revenue: string; units: string; purchases: string }>(
        `select to_char(bucket at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI') as bucket, revenue::text,
                units::text, purchases::text from mart.live_revenue_5m order by bucket`,
      )
    ).rows;

  it('counts a purchase once in its 5-minute bucket, product and funnel, whatever is re-sent', async () => {
    const session = `buyer-${crypto.randomUUID()}`;
    const now = new Date();
    const batch = [
      event({ user_session: session, event_type: 'view', product_id: 'P1', price: 20 }),
      event({ user_session: session, event_type: 'cart', product_id: 'P1', price: 20, quantity: 2 }),
      event({ user_session: session, event_type: 'purchase', product_id: 'P1', price: 20, quantity: 2 }),
      event({ user_session: session, event_type: 'purchase', product_id: 'P2', price: 5.5, quantity: 1 }),
    ];
    const before = await liveSnapshot(pool, OPTIONS);
    expect(await storeEvents(pool, batch)).toMatchObject({ duplicates: 0 });
    // The same batch again, and a repeat inside one batch: the id ledger keeps them out of every total.
    expect(await storeEvents(pool, batch)).toMatchObject({ stored: [], duplicates: 4 });
    expect((await storeEvents(pool, [batch[2], batch[2]])).duplicates).toBe(2);
    // A re-used id with another time would land in another bucket: still a duplicate.
    expect((await storeEvents(pool, [{ ...batch[3], event_time: '2026-01-01T10:00:00Z' }])).duplicates).toBe(
      1,
    );

    const after = await liveSnapshot(pool, OPTIONS);
    expect(after.totals.revenue - before.totals.revenue).toBeCloseTo(45.5, 6);
    expect(after.totals.units - before.totals.units).toBe(3);
    expect(after.totals.purchases - before.totals.purchases).toBe(2);
    expect(after.products.find((p) => p.productId === 'P1')).toMatchObject({ units: 2, revenue: 40 });
    expect(after.products.find((p) => p.productId === 'P2')).toMatchObject({ units: 1, revenue: 5.5 });
    expect(after.funnel.today.viewed - before.funnel.today.viewed).toBe(1);
    expect(after.funnel.today.carted - before.funnel.today.carted).toBe(1);
    expect(after.funnel.today.purchased - before.funnel.today.purchased).toBe(1);
    expect(after.funnel.lastHour.purchased - before.funnel.lastHour.purchased).toBe(1);
    const bucket = new Date(Math.floor(now.getTime() / 300_000) * 300_000).toISOString();
    const revenueBucket = after.revenue.find((b) => b.bucket === bucket.replace(/\.\d+Z$/, '.000Z'));
    expect(revenueBucket?.revenue).toBeCloseTo(45.5, 6);
    expect(await buckets()).not.toContainEqual(expect.objectContaining({ bucket: '2026-01-01T10:00' }));
  });

  it('puts a late event in the bucket of its event time, not of its arrival', async () => {
    const late = event({ event_type: 'purchase', event_time: '2026-11-30T10:03:00Z', price: 7, quantity: 3 });
    const onTime = event({ event_type: 'purchase', event_time: '2026-11-30T10:20:00Z', price: 1 });
    await storeEvents(pool, [onTime]);
    await storeEvents(pool, [late]);
    const rows = await buckets();
    expect(rows).toContainEqual({ bucket: '2026-11-30T10:00', revenue: '21', units: '3', purchases: '1' });
    expect(rows).toContainEqual({ bucket: '2026-11-30T10:20', revenue: '1', units: '1', purchases: '1' });
    const { rows: product } = await pool.query(
      `select to_char(bucket at time zone 'UTC', 'HH24:MI') as bucket, units::int from mart.live_product_sales
        where product_id = '101' and bucket >= '2026-11-30' and bucket < '2026-12-01' order by bucket`,
    );
    expect(product).toEqual([
      { bucket: '10:00', units: 3 },
      { bucket: '10:15', units: 1 },
    ]);
  });

  it('counts the same day last week beside today, shifted onto today', async () => {
    const now = Date.now();
    const weekAgo = new Date(now - 7 * 86_400_000 - 60_000).toISOString();
    const before = await liveSnapshot(pool, OPTIONS);
    await storeEvents(pool, [event({ event_type: 'purchase', event_time: weekAgo, price: 100 })]);
    const after = await liveSnapshot(pool, OPTIONS);
    // Unless the test runs in the first minute of a UTC day, a week ago minus a minute is the same weekday.
    if (new Date(now).getUTCDate() === new Date(now - 60_000).getUTCDate()) {
      expect(after.totals.lastWeekSoFar - before.totals.lastWeekSoFar).toBeCloseTo(100, 6);
      expect(after.totals.lastWeekDay - before.totals.lastWeekDay).toBeCloseTo(100, 6);
      expect(after.lastWeek.length).toBeGreaterThan(0);
      expect(after.totals.revenue).toBeCloseTo(before.totals.revenue, 6);
    }
  });

  it('keeps the figures across a restart (a new pool) and rebuilds the same from the stored events', async () => {
    const first = await liveSnapshot(pool, OPTIONS);
    const fresh = createPool(databases.warehouseUrl, 'test');
    try {
      const restarted = await liveSnapshot(fresh, OPTIONS);
      expect({ ...restarted, at: null }).toEqual({ ...first, at: null });
      const kept = await pool.query(
        `select (select json_agg(r order by bucket) from mart.live_revenue_5m r) as revenue,
                (select json_agg(p order by bucket, product_id) from mart.live_product_sales p) as products,
                (select json_agg(s order by user_session) from mart.live_sessions s) as sessions`,
      );
      await pool.query('truncate mart.live_revenue_5m, mart.live_product_sales, mart.live_sessions');
      expect((await liveSnapshot(fresh, OPTIONS)).totals.revenue).toBe(0);
      await rebuildLiveAggregates(fresh);
      const rebuilt = await pool.query(
        `select (select json_agg(r order by bucket) from mart.live_revenue_5m r) as revenue,
                (select json_agg(p order by bucket, product_id) from mart.live_product_sales p) as products,
                (select json_agg(s order by user_session) from mart.live_sessions s) as sessions`,
      );
      const withoutTimes = (rows: { updated_at?: string }[]) => rows.map(({ updated_at: _, ...r }) => r);
      expect(withoutTimes(rebuilt.rows[0].revenue)).toEqual(withoutTimes(kept.rows[0].revenue));
      expect(rebuilt.rows[0].products).toEqual(kept.rows[0].products);
      expect(rebuilt.rows[0].sessions).toEqual(kept.rows[0].sessions);
    } finally {
      await fresh.end();
    }
  });

  it('counts active carts, and carts abandoned, e-mailed and recovered today from the cart facts', async () => {
    const before = await liveSnapshot(pool, OPTIONS);
    const session = `cart-${crypto.randomUUID()}`;
    await storeEvents(pool, [event({ user_session: session, event_type: 'cart' })]);
    expect((await liveSnapshot(pool, OPTIONS)).carts.active - before.carts.active).toBe(1);
    // Idle longer than the session lasts: no longer active.
    expect((await liveSnapshot(pool, { ...OPTIONS, sessionIdleMs: 1 })).carts.active).toBe(0);
    await pool.query(
      `insert into core.fact_cart_session (cart_id, user_session, user_id, started_at, last_event_at, abandoned_at,
         abandoned_date, outcome, item_count, units, cart_value, events, purchased_at, purchase_value)
       values ($1, $1, '1', now(), now(), now(), current_date, 'recovered', 1, 1, 10, 2, now(), 10)`,
      [session],
    );
    await pool.query(
      `insert into core.fact_retargeting (cart_id, kind, user_session, decided_at, decision, offer_type, offer_code,
         cart_value, item_count, sent_at, converted_at, recovered_revenue)
       values ($1, 'abandoned', $1, now(), 'sent', 'free_shipping', $2, 10, 1, now(), now(), 10)`,
      [session, `CODE-${session}`],
    );
    const after = await liveSnapshot(pool, OPTIONS);
    expect(after.carts.abandoned - before.carts.abandoned).toBe(1);
    expect(after.carts.emailed - before.carts.emailed).toBe(1);
    expect(after.carts.recovered - before.carts.recovered).toBe(1);
    expect(after.carts.recoveredRevenue - before.carts.recoveredRevenue).toBeCloseTo(10, 6);
  });

  it('notifies the live hub from the insert transaction, one snapshot per burst of batches', async () => {
    const hub = new LiveHub({ warehouse: pool, ...OPTIONS, logger: createLogger('error'), coalesceMs: 250 });
    const seen: LiveSnapshot[] = [];
    try {
      await hub.subscribe((snapshot) => seen.push(snapshot));
      const before = (await hub.snapshot()).totals.revenue;
      const started = Date.now();
      const batches = Array.from({ length: 5 }, () => [event({ event_type: 'purchase', price: 2 })]);
      await Promise.all(batches.map((batch) => storeEvents(pool, batch)));
      const stored = Date.now() - started;
      while (seen.length === 0 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
      const delay = Date.now() - started;
      expect(delay).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 400));
      // Five commits within a few ms are one push (two if the storing straddled the 250 ms window).
      expect(seen.length).toBe(stored < 200 ? 1 : seen.length);
      expect(seen.length).toBeLessThanOrEqual(2);
      expect(seen[seen.length - 1].totals.revenue - before).toBeCloseTo(10, 6);
      // A batch of duplicates stores nothing and notifies nothing.
      const pushes = seen.length;
      expect((await storeEvents(pool, batches[0])).duplicates).toBe(1);
      await new Promise((r) => setTimeout(r, 500));
      expect(seen.length).toBe(pushes);
    } finally {
      await hub.close();
    }
  });
});
