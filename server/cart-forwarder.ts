import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/log';
import { cartWorkflowId } from '../lib/names';
import { CART_SEARCH_ATTRIBUTES, CartWorkflow, cartEventsSignal, type CartSettings } from '../workflows/cart';
import { startingStage } from '../workflows/cart-state';
import { markForwarded, type StoredEvent } from './events-store';

/** The cart settings every new cart workflow starts with, from the config. */
export function cartSettingsFrom(config: Config): CartSettings {
  return {
    sessionIdleMs: config.sessionIdleMs,
    reminderDelayMs: config.carts.reminderDelayMs ?? null,
    attributionWindowMs: config.carts.attributionWindowMs,
    highValueThreshold: config.carts.highValueThreshold,
    highValuePercent: config.carts.highValuePercent,
  };
}

export interface CartForwarder {
  /**
   * Signals stored events to their carts, one signal-with-start per cart, and marks the delivered ones
   * in the outbox: through `db` when given (the relay's transaction), else in a shared UPDATE a few
   * times a second — a request then costs the database one commit, not two, and a mark lost in a crash
   * only means the relay delivers the event again (carts ignore an event id they have seen). Never
   * throws for Temporal: what could not be delivered stays in the outbox for the relay.
   */
  forward(
    events: readonly StoredEvent[],
    db?: pg.ClientBase,
  ): Promise<{ forwarded: number; deferred: number }>;
}

/** How long one signal-with-start may take before its events are left to the relay. */
const SIGNAL_DEADLINE_MS = 3000;
/** After Temporal failed, requests leave forwarding to the relay for this long instead of each waiting. */
const BACK_OFF_MS = 5000;
/** How often delivered events are marked in the outbox, together. */
const MARK_EVERY_MS = 250;
/** How many carts' current runs the forwarder remembers. */
const KNOWN_RUNS = 100_000;
/** Carts signalled at once for one batch. */
const CONCURRENCY = 16;

export function createCartForwarder(options: {
  client: Client;
  warehouse: pg.Pool;
  taskQueue: string;
  settings: CartSettings;
  logger: Logger;
}): CartForwarder {
  const { client, taskQueue, settings, logger } = options;
  let unreachableUntil = 0;

  // The run each open cart is on, as signal-with-start reported it. A signal naming its run reaches
  // it directly; one naming only the workflow id costs the Temporal server a lookup of the current
  // run in its database first — with the dev server's single SQLite connection, the costliest read
  // under load. Bounded, oldest forgotten first; a forgotten or ended run only means the lookup again.
  const knownRuns = new Map<string, string>();
  const rememberRun = (workflowId: string, runId: string) => {
    knownRuns.delete(workflowId);
    knownRuns.set(workflowId, runId);
    if (knownRuns.size > KNOWN_RUNS) knownRuns.delete(knownRuns.keys().next().value!);
  };

  // Delivered ids waiting to be marked, written together.
  const unmarked: string[] = [];
  let flushing: Promise<void> | undefined;
  const flushMarks = async () => {
    while (unmarked.length > 0) {
      const batch = unmarked.splice(0, 5000);
      try {
        await markForwarded(options.warehouse, batch);
      } catch (error) {
        logger.warn('Could not mark forwarded events; the relay will deliver them again', {
          events: batch.length,
          error: (error as Error).message,
        });
      }
    }
  };
  const markSoon = (ids: string[]) => {
    unmarked.push(...ids);
    flushing ??= new Promise<void>((resolve) => setTimeout(resolve, MARK_EVERY_MS))
      .then(flushMarks)
      .finally(() => {
        flushing = undefined;
        if (unmarked.length > 0) markSoon([]);
      });
  };

  /**
   * Delivers a session's events to its cart. A cart begins with the session's first cart event: views
   * alone go only to a cart that is open (they keep it from expiring), and a session that has only
   * viewed has no workflow — starting one per browsing session would cost Temporal most of its work
   * for carts that never hold an item. Its views are stored like every event, for the dashboard and
   * the pipeline.
   */
  async function signalCart(userSession: string, events: StoredEvent[]): Promise<void> {
    const workflowId = cartWorkflowId(userSession);
    const batch = {
      events: events.map((event) => ({
        eventId: event.eventId,
        eventTime: event.eventTime,
        eventType: event.eventType,
        userId: event.userId,
        productId: event.productId,
        price: event.price,
        quantity: event.quantity,
        receivedAt: event.receivedAt,
      })),
    };
    // A signal to the cart's open run; false when there is none (that run ended, or no cart is open).
    const signalOpenCart = (runId?: string) =>
      client
        .withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
          client.workflow.getHandle(workflowId, runId).signal(cartEventsSignal, batch),
        )
        .then(
          () => true,
          (error: unknown) => {
            if (!(error instanceof WorkflowNotFoundError)) throw error;
            return false;
          },
        );
    const runId = knownRuns.get(workflowId);
    if (runId !== undefined) {
      if (await signalOpenCart(runId)) return;
      // That run has ended (bought, or continued as new): forget it and deliver as if unknown.
      knownRuns.delete(workflowId);
    }
    if (events.every((event) => event.eventType === 'view')) {
      // No open cart: nothing to deliver the views to, so they are delivered.
      await signalOpenCart();
      return;
    }
    // Used only when this signal starts the cart: it shows its first events' stage and value from the start.
    const { stage, value } = startingStage(batch.events);
    const handle = await client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
      client.workflow.signalWithStart(CartWorkflow, {
        workflowId,
        taskQueue,
        args: [{ userSession, settings, startedAs: stage }],
        signal: cartEventsSignal,
        signalArgs: [batch],
        typedSearchAttributes: [
          { key: CART_SEARCH_ATTRIBUTES.customerId, value: events[0].userId },
          { key: CART_SEARCH_ATTRIBUTES.stage, value: stage },
          { key: CART_SEARCH_ATTRIBUTES.cartValue, value },
        ],
        staticSummary: `Shopping cart of session ${userSession}`,
      }),
    );
    rememberRun(workflowId, handle.signaledRunId);
  }

  return {
    async forward(events, db) {
      if (events.length === 0) return { forwarded: 0, deferred: 0 };
      if (db === undefined && Date.now() < unreachableUntil) return { forwarded: 0, deferred: events.length };
      const bySession = new Map<string, StoredEvent[]>();
      for (const event of events) {
        const list = bySession.get(event.userSession);
        if (list) list.push(event);
        else bySession.set(event.userSession, [event]);
      }
      const carts = [...bySession.entries()];
      const delivered: string[] = [];
      let failure: Error | undefined;
      let next = 0;
      const lane = async () => {
        while (next < carts.length) {
          const [userSession, cartEvents] = carts[next++];
          try {
            await signalCart(userSession, cartEvents);
            delivered.push(...cartEvents.map((event) => event.eventId));
          } catch (error) {
            failure = error as Error;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, carts.length) }, lane));
      if (failure) {
        unreachableUntil = Date.now() + BACK_OFF_MS;
        logger.warn('Could not forward events to their carts; the relay retries them', {
          carts: carts.length,
          deferredEvents: events.length - delivered.length,
          error: failure.message,
        });
      }
      if (db) await markForwarded(db, delivered);
      else if (delivered.length > 0) markSoon(delivered);
      return { forwarded: delivered.length, deferred: events.length - delivered.length };
    },
  };
}

export interface EventRelay {
  /** Forwards one batch of the outbox; returns how many events it delivered. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The outbox relay: events stored but not yet delivered to their carts (Temporal was unreachable, or
 * the server stopped between storing and signalling) are forwarded here, oldest first. Rows younger
 * than `minAgeMs` (10 s: past a request's signal deadline and its deferred mark) are left to the
 * request that stored them. Several servers may run a relay: rows are
 * taken with SKIP LOCKED, and a cart ignores an event id it has already seen.
 */
export function startEventRelay(options: {
  warehouse: pg.Pool;
  forwarder: CartForwarder;
  logger: Logger;
  intervalMs?: number;
  minAgeMs?: number;
  batchSize?: number;
}): EventRelay {
  const { warehouse, forwarder, logger } = options;
  const intervalMs = options.intervalMs ?? 1000;
  const minAgeMs = options.minAgeMs ?? 10_000;
  const batchSize = options.batchSize ?? 500;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function runOnce(): Promise<number> {
    const db = await warehouse.connect();
    try {
      await db.query('begin');
      const { rows } = await db.query<{
        event_id: string;
        event_time: Date;
        event_type: StoredEvent['eventType'];
        user_id: string;
        user_session: string;
        product_id: string;
        price: string;
        quantity: number;
        received_at: string;
      }>(
        `select r.event_id, r.event_time, r.event_type, r.user_id, r.user_session, r.product_id,
                r.price::text as price, r.quantity,
                to_char(ids.received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as received_at
           from (select event_id, event_time, received_at from staging.raw_event_ids
                  where forwarded_at is null and received_at < now() - make_interval(secs => $1::double precision / 1000)
                  order by received_at
                  limit $2
                  for update skip locked) ids
           join staging.raw_events r using (event_id, event_time)
          order by r.received_at, r.event_time`,
        [minAgeMs, batchSize],
      );
      const events: StoredEvent[] = rows.map((row) => ({
        eventId: row.event_id,
        eventTime: row.event_time.toISOString(),
        eventType: row.event_type,
        userId: row.user_id,
        userSession: row.user_session,
        productId: row.product_id,
        price: Number(row.price),
        quantity: row.quantity,
        receivedAt: row.received_at,
      }));
      const { forwarded } = await forwarder.forward(events, db);
      await db.query('commit');
      if (forwarded > 0) logger.info('The relay forwarded events from the outbox', { forwarded });
      return forwarded;
    } catch (error) {
      await db.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      db.release();
    }
  }

  const tick = () => {
    running = (async () => {
      let delivered = 0;
      try {
        delivered = await runOnce();
      } catch (error) {
        logger.warn('The event relay failed; it tries again', { error: (error as Error).message });
      }
      if (!stopped) timer = setTimeout(tick, delivered >= batchSize ? 0 : intervalMs);
    })();
  };
  timer = setTimeout(tick, intervalMs);

  return {
    runOnce,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
