import type pg from 'pg';
import type { IncomingEvent } from './events-schema';
import { LIVE_AGGREGATE_CTES } from './live-store';

/** An event as stored, in the order of its batch: what the forwarder sends to the cart workflow. */
export interface StoredEvent {
  eventId: string;
  eventTime: string;
  eventType: IncomingEvent['event_type'];
  userId: string;
  userSession: string;
  productId: string;
  price: number;
  quantity: number;
  /**
   * When the server accepted it: the database's clock, ISO to the microsecond as the ledger holds it,
   * so a cart can compare it exactly (a JavaScript Date would round some values down a millisecond).
   */
  receivedAt: string;
}

export interface StoreResult {
  /** The batch's events whose event_id was new, in batch order. */
  stored: StoredEvent[];
  /** Events whose event_id was seen before (in an earlier batch or earlier in this one). */
  duplicates: number;
}

/**
 * The days (UTC) whose partition of staging.raw_events each database is known to have, so a batch
 * costs no catalog lookup. Should a partition go away behind the server's back (an archive detached
 * it), the insert fails with "no partition", the cache is dropped and the batch tried once more.
 */
const knownDays = new WeakMap<pg.Pool, Set<string>>();

/** Creates the raw_events partitions a batch needs; idempotent and safe when servers race for a new day. */
export async function ensurePartitions(pool: pg.Pool, eventTimes: readonly string[]): Promise<void> {
  let known = knownDays.get(pool);
  if (!known) knownDays.set(pool, (known = new Set()));
  const days = new Set(eventTimes.map((time) => new Date(time).toISOString().slice(0, 10)));
  for (const day of days) {
    if (known.has(day)) continue;
    try {
      await pool.query('select staging.ensure_raw_events_partition($1::date)', [day]);
    } catch (error) {
      // Another server created it in the same instant: it exists, which is all this wanted.
      if ((error as { code?: string }).code !== DUPLICATE_TABLE) throw error;
    }
    known.add(day);
  }
}

/** Postgres's error for creating a table that exists. */
const DUPLICATE_TABLE = '42P07';

/** Postgres's error for a row whose partition does not exist. */
const NO_PARTITION = '23514';

/**
 * Stores a validated batch atomically, in one statement: it claims each new event_id in
 * staging.raw_event_ids (the idempotency ledger, and the outbox) and inserts exactly those events into
 * staging.raw_events. Either the whole batch's new events are stored or, on any error, none is.
 * The same statement adds exactly the new events to the live dashboard's aggregates (server/live-store.ts).
 */
export async function storeEvents(pool: pg.Pool, events: readonly IncomingEvent[]): Promise<StoreResult> {
  try {
    return await storeOnce(pool, events);
  } catch (error) {
    if ((error as { code?: string }).code !== NO_PARTITION) throw error;
    knownDays.delete(pool);
    return storeOnce(pool, events);
  }
}

async function storeOnce(pool: pg.Pool, events: readonly IncomingEvent[]): Promise<StoreResult> {
  await ensurePartitions(
    pool,
    events.map((event) => event.event_time),
  );
  const rows = events.map((event, ord) => ({
    ord,
    event_id: event.event_id.toLowerCase(),
    event_time: event.event_time,
    event_type: event.event_type,
    user_id: event.user_id,
    user_session: event.user_session,
    product_id: event.product_id,
    price: event.price,
    quantity: event.quantity ?? 1,
    category_code: event.category_code || null,
    brand: event.brand || null,
    email: event.email ? event.email.trim() : null,
  }));
  const { rows: inserted } = await pool.query<{ ord: number; received_at: string }>(
    `with incoming as (
       select distinct on (e.event_id) e.*
         from jsonb_to_recordset($1::jsonb) as e(
           ord int, event_id uuid, event_time timestamptz, event_type text, user_id text, user_session text,
           product_id text, price numeric, quantity int, category_code text, brand text, email text)
        order by e.event_id, e.ord
     ), claimed as (
       insert into staging.raw_event_ids (event_id, event_time, user_session)
       select event_id, event_time, user_session from incoming
       on conflict (event_id) do nothing
       returning event_id, received_at
     ), stored as (
       insert into staging.raw_events
         (event_id, event_time, event_type, user_id, user_session, product_id, price, quantity,
          category_code, brand, email)
       select i.event_id, i.event_time, i.event_type, i.user_id, i.user_session, i.product_id, i.price,
              i.quantity, i.category_code, i.brand, i.email
         from incoming i join claimed c using (event_id)
       returning event_id
     ), fresh as (
       select i.* from incoming i join claimed c using (event_id)
     ), ${LIVE_AGGREGATE_CTES}
     select i.ord, to_char(c.received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as received_at
       from incoming i join stored s using (event_id) join claimed c using (event_id)
       left join live_notified on true
      order by i.ord`,
    [JSON.stringify(rows)],
  );
  const stored = inserted.map(({ ord, received_at }) => {
    const row = rows[ord];
    return {
      eventId: row.event_id,
      eventTime: new Date(row.event_time).toISOString(),
      eventType: row.event_type,
      userId: row.user_id,
      userSession: row.user_session,
      productId: row.product_id,
      price: row.price,
      quantity: row.quantity,
      receivedAt: received_at,
    };
  });
  return { stored, duplicates: events.length - stored.length };
}

/** Marks events as delivered to their cart workflows, so the relay leaves them alone. */
export async function markForwarded(
  pool: pg.Pool | pg.ClientBase,
  eventIds: readonly string[],
): Promise<void> {
  if (eventIds.length === 0) return;
  await pool.query(
    `update staging.raw_event_ids set forwarded_at = now() where event_id = any($1::uuid[]) and forwarded_at is null`,
    [eventIds],
  );
}
