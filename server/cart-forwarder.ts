import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/log';
import { cartWorkflowId } from '../contracts/names';
import { CART_SEARCH_ATTRIBUTES, CartWorkflow, cartEventsSignal, type CartSettings } from '../workflows/cart';
import { startingStage } from '../contracts/cart-state';
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
/** Carts signalled at once for one batch (a request's, or the relay's). */
const CONCURRENCY = 16;

/** A cart's events waiting for its next signal, and whoever waits for them to be delivered. */
interface Mailbox {
  events: StoredEvent[];
  waiters: ((delivered: boolean) => void)[];
  /** A signal of this cart is in flight, or its window is open: new events join the next signal. */
  busy: boolean;
}

export function createCartForwarder(options: {
  client: Client;
  warehouse: pg.Pool;
  taskQueue: string;
  settings: CartSettings;
  logger: Logger;
  /**
   * How long a cart's first events wait for more of the same cart before one signal carries them all
   * (0, the default: none). Events that arrive while a cart's signal is in flight always ride the next
   * one together, window or not.
   */
  coalesceMs?: number;
}): CartForwarder {
  const { client, taskQueue, settings, logger } = options;
  const coalesceMs = options.coalesceMs ?? 0;
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
   * alone go only to a cart this server knows to be open (they keep it from expiring), and a session
   * that has only viewed has no workflow — starting one per browsing session would cost Temporal most
   * of its work for carts that never hold an item. Views of a session whose cart this server does not
   * know (none is open, or another server or an earlier process started it) are not signalled at all:
   * asking for the open run would cost the Temporal server a lookup for each, for nothing in the usual
   * case, and the cart checks the ledger before it declares a session idle, so a view it was not given
   * still keeps its session open. Its views are stored like every event, for the dashboard and the
   * pipeline.
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
    const runId = knownRuns.get(workflowId);
    if (runId !== undefined) {
      // A signal to the cart's open run; false when that run has ended (bought, or continued as new).
      const signalled = await client
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
      if (signalled) return;
      // Forget it and deliver as if unknown.
      knownRuns.delete(workflowId);
    }
    // No open cart this server knows of: views alone are delivered by the ledger (above).
    if (events.every((event) => event.eventType === 'view')) return;
    // Used only when this signal starts the cart: it shows its first events' stage and value from the start.
    const { stage, value } = startingStage(batch.events);
    const handle = await client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () =>
      client.workflow.signalWithStart(CartWorkflow, {
        workflowId,
        taskQueue,
        args: [{ userSession, settings, startedAs: stage, localActivities: true }],
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

  /**
   * Each cart's mailbox: one signal at a time per cart, carrying every event that reached the cart
   * since the last (from any request or the relay), so a cart's burst costs Temporal one signal and
   * one workflow task instead of one per request. Events are applied by event time and de-duplicated
   * by id in the cart, so merging batches changes nothing in its state.
   */
  const mailboxes = new Map<string, Mailbox>();
  let failure: Error | undefined;
  const drain = async (userSession: string, mailbox: Mailbox) => {
    if (coalesceMs > 0) await new Promise((resolve) => setTimeout(resolve, coalesceMs));
    while (mailbox.events.length > 0) {
      const events = mailbox.events.splice(0);
      const waiters = mailbox.waiters.splice(0);
      let delivered = false;
      try {
        await signalCart(userSession, events);
        delivered = true;
      } catch (error) {
        failure = error as Error;
      }
      for (const done of waiters) done(delivered);
    }
    mailboxes.delete(userSession);
  };
  /** Resolves when the cart's events have been signalled (true) or could not be (false). */
  const post = (userSession: string, events: StoredEvent[]): Promise<boolean> =>
    new Promise((resolve) => {
      let mailbox = mailboxes.get(userSession);
      if (!mailbox) mailboxes.set(userSession, (mailbox = { events: [], waiters: [], busy: false }));
      mailbox.events.push(...events);
      mailbox.waiters.push(resolve);
      if (!mailbox.busy) {
        mailbox.busy = true;
        void drain(userSession, mailbox);
      }
    });

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
      const failedBefore = failure;
      // Up to CONCURRENCY of the batch's carts at a time (a request waits for its own carts only: a
      // limit shared by all requests queued each behind the others' signals, for a minute under load).
      const outcomes: boolean[] = [];
      let next = 0;
      const lane = async () => {
        while (next < carts.length) {
          const i = next++;
          outcomes[i] = await post(carts[i][0], carts[i][1]);
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, carts.length) }, lane));
      const delivered = carts.flatMap(([, cartEvents], i) =>
        outcomes[i] ? cartEvents.map((event) => event.eventId) : [],
      );
      if (delivered.length < events.length) {
        unreachableUntil = Date.now() + BACK_OFF_MS;
        logger.warn('Could not forward events to their carts; the relay retries them', {
          carts: carts.length,
          deferredEvents: events.length - delivered.length,
          error: (failure ?? failedBefore)?.message,
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
