import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { Transporter } from 'nodemailer';
import type pg from 'pg';
import type { Config } from '../lib/config';
import { inTransaction } from '../lib/db';
import { cartEmailKey } from '../contracts/names';
import { resolveUnsubscribeSecret, signUnsubscribeToken } from '../lib/unsubscribe';
import type { CartLine, Offer, RetargetingDecision } from '../contracts/cart-state';
import { renderCartEmail, type EmailLine, type RecommendedProduct } from './cart-email';
import { customerIdOf, isInHoldout, messageIdFor, type NoEmailReason } from './cart-rules';

export interface CartActivityDeps {
  config: Config;
  warehouse: pg.Pool;
  shop: pg.Pool;
  mailer: Transporter;
  /** Suggests products for the e-mail, never those of the cart; none (or absent): the section is left out. */
  /** Reads the warehouse through `warehouseDb`: the send holds one of the pool's connections while it runs. */
  recommend?: (
    customerId: string,
    cartProductIds: string[],
    limit: number,
    warehouseDb: pg.ClientBase,
  ) => Promise<RecommendedProduct[]>;
}

/** The cart as the workflow hands it to an activity: ids, quantities and prices, no personal data. */
export interface CartSnapshot {
  cartId: string;
  userSession: string;
  userId: string;
  lines: CartLine[];
  itemCount: number;
  units: number;
  value: number;
  firstEventAt: string;
  lastEventAt: string;
  eventCount: number;
}

export interface DecideRetargetingInput {
  kind: 'abandoned' | 'reminder';
  cart: CartSnapshot;
  offer: Offer;
  /**
   * For an abandonment: the idle time. When the server accepted an event of the session within it —
   * one still in the outbox, or on its way — the session is not idle and nothing is decided.
   */
  sessionIdleMs?: number;
  /** The latest acceptance time among the events the cart has applied (ISO); null when it has none. */
  lastReceivedAt?: string | null;
}

/** The session had an event the cart has not seen yet; it is idle no sooner than `until` (ISO). */
export interface SessionStillActive {
  decision: 'still_active';
  until: string;
}

export interface RetargetingOutcome {
  decision: RetargetingDecision;
  reason: NoEmailReason | null;
  /** The key of the e-mail to send, when the decision is pending (or it was already sent). */
  sendKey: string | null;
}

export interface SendOutcome {
  decision: 'sent' | 'suppressed';
  reason: NoEmailReason | null;
  sentAt: string | null;
}

export interface RecordPurchaseInput {
  cart: CartSnapshot;
  purchasedAt: string;
  purchaseValue: number;
  /** True when the cart was abandoned (and a retargeting decision made) before this purchase. */
  afterAbandonment: boolean;
}

/** What the e-mail shows, fixed when the e-mail is decided so that every attempt sends the same message. */
interface StoredContent {
  userSession: string;
  lines: EmailLine[];
  total: number;
  currency: string;
  offer: Offer;
  cartUrl: string;
}

/** The shop's currency; the demo storefront's orders are in euros. */
const CURRENCY = 'EUR';
/** How often a send heartbeats while it waits for the SMTP server. */
const HEARTBEAT_MS = 2000;

interface Contact {
  customerId: string;
  firstName: string | null;
  email: string | null;
  consent: boolean;
}

/**
 * The abandoned-cart activities. The exactly-once argument is in docs/carts.md: a decision is claimed
 * once per cart under a unique key, and the send holds that row's lock from before SMTP until the
 * row says `sent`, in one transaction.
 */
export function createCartActivities(deps: CartActivityDeps) {
  const { config, warehouse, shop, mailer } = deps;
  const rules = config.carts;
  let secret: string | undefined;
  const unsubscribeSecret = () => (secret ??= resolveUnsubscribeSecret(config));

  /**
   * The customer's name, address and consent. `warehouseDb` is the connection to read the warehouse
   * through: the send passes the one it holds, since asking the pool for a second while holding one
   * deadlocks once as many sends as the pool has connections wait for it (seen under load: every
   * connection idle in a send's transaction, every send waiting for the pool, no e-mail for minutes).
   */
  async function lookUpContact(
    customerId: string,
    userSession: string,
    warehouseDb: pg.Pool | pg.ClientBase = warehouse,
  ): Promise<Contact | undefined> {
    const { rows } = await shop.query<{
      first_name: string | null;
      email: string | null;
      marketing_consent: boolean;
    }>(`select first_name, email, marketing_consent from customers where customer_id = $1::bigint`, [
      customerId,
    ]);
    if (rows.length === 0) return undefined;
    let email = rows[0].email?.trim() || null;
    if (!email) {
      // A signed-in shopper's events may carry the address the shop's record lacks.
      const fromEvents = await warehouseDb.query<{ email: string }>(
        `select email from staging.raw_events
          where user_session = $1 and email is not null and email <> ''
          order by event_time desc limit 1`,
        [userSession],
      );
      email = fromEvents.rows[0]?.email ?? null;
    }
    return { customerId, firstName: rows[0].first_name, email, consent: rows[0].marketing_consent };
  }

  async function isSuppressed(db: pg.ClientBase, customerId: string, email: string | null): Promise<boolean> {
    const { rows } = await db.query(
      `select 1 from ops.email_suppressions where customer_id = $1::bigint or email = lower($2) limit 1`,
      [customerId, email],
    );
    return rows.length > 0;
  }

  async function productNames(productIds: string[]): Promise<Map<string, string>> {
    const numeric = productIds.filter((id) => /^\d{1,18}$/.test(id));
    if (numeric.length === 0) return new Map();
    const { rows } = await shop.query<{ product_id: string; name: string }>(
      `select product_id::text as product_id, name from products where product_id = any($1::bigint[])`,
      [numeric],
    );
    return new Map(rows.map((row) => [row.product_id, row.name]));
  }

  function cartUrl(userSession: string, code: string): string {
    return rules.cartUrlTemplate
      .replaceAll('{session}', encodeURIComponent(userSession))
      .replaceAll('{code}', encodeURIComponent(code));
  }

  return {
    /**
     * Records an abandoned cart and decides what to do about it under the shop's rules: send (the
     * decision is `pending` and an e-mail row is claimed), hold out, or suppress with a reason.
     * Idempotent: a decision already made for this cart and kind is returned as it was.
     */
    async decideRetargeting(input: DecideRetargetingInput): Promise<RetargetingOutcome | SessionStillActive> {
      const { cart, kind, offer } = input;
      const sendKey = cartEmailKey(cart.cartId, kind);
      if (kind === 'abandoned' && input.sessionIdleMs !== undefined) {
        // The ledger knows every event the server accepted, the cart only those it was given. Any event
        // keeps the session open for the idle time after it. A cart event the cart has not seen (still in
        // the outbox, or on its way) keeps it open until it arrives: its arrival wakes the cart, and 30 s
        // is only the fallback. One unseen for 15 minutes means the relay is not running; then the cart
        // decides on what it has. (Views need no waiting for: they do not change the cart, and one that
        // came before the cart began was never sent to it. A cart given events without acceptance
        // times, by a client of its own, counts the undelivered ones instead.)
        const { rows } = await warehouse.query<{ until: Date | null }>(
          `select case
                    when bool_or(ids.received_at > now() - interval '15 minutes' and e.event_type <> 'view'
                                 and case when $3::timestamptz is null then ids.forwarded_at is null
                                          else ids.received_at > $3::timestamptz end)
                      then greatest(max(ids.received_at) + make_interval(secs => $2::double precision / 1000),
                                    now() + interval '30 seconds')
                    when max(ids.received_at) + make_interval(secs => $2::double precision / 1000) > now()
                      then max(ids.received_at) + make_interval(secs => $2::double precision / 1000)
                  end as until
             from staging.raw_event_ids ids
             join staging.raw_events e using (event_id, event_time)
            where ids.user_session = $1`,
          [cart.userSession, input.sessionIdleMs, input.lastReceivedAt ?? null],
        );
        if (rows[0].until !== null) return { decision: 'still_active', until: rows[0].until.toISOString() };
      }
      const customerId = customerIdOf(cart.userId);
      const contact = customerId ? await lookUpContact(customerId, cart.userSession) : undefined;
      const names = await productNames(cart.lines.map((line) => line.productId));

      const outcome = await inTransaction(warehouse, async (db) => {
        await db.query(`select pg_advisory_xact_lock(hashtext($1))`, [sendKey]);
        if (kind === 'abandoned') {
          await db.query(
            `insert into core.fact_cart_session
               (cart_id, user_session, user_id, customer_id, started_at, last_event_at, abandoned_at, abandoned_date,
                outcome, item_count, units, cart_value, events)
             values ($1, $2, $3, $4::bigint, $5, $6, now(), (now() at time zone 'UTC')::date,
                     'abandoned', $7, $8, $9, $10)
             on conflict (cart_id) do nothing`,
            [
              cart.cartId,
              cart.userSession,
              cart.userId,
              customerId,
              cart.firstEventAt,
              cart.lastEventAt,
              cart.itemCount,
              cart.units,
              cart.value,
              cart.eventCount,
            ],
          );
        }
        const existing = await db.query<{ decision: RetargetingDecision; reason: NoEmailReason | null }>(
          `select decision, reason from core.fact_retargeting where cart_id = $1 and kind = $2`,
          [cart.cartId, kind],
        );
        if (existing.rows.length > 0) {
          const { decision, reason } = existing.rows[0];
          return {
            decision,
            reason,
            sendKey: decision === 'pending' || decision === 'sent' ? sendKey : null,
          };
        }

        let reason: NoEmailReason | null = null;
        if (!customerId || !contact) reason = 'unknown_customer';
        else if (!contact.consent) reason = 'no_consent';
        else if (!contact.email) reason = 'no_email';
        else if (await isSuppressed(db, customerId, contact.email)) reason = 'unsubscribed';
        else if (kind === 'abandoned') {
          await db.query(
            `insert into ops.retargeting_contacts (customer_id, last_contact_at, last_cart_id)
             values ($1::bigint, '-infinity', '') on conflict (customer_id) do nothing`,
            [customerId],
          );
          // The row lock serialises decisions per customer: two carts expiring together cannot both pass.
          const { rows } = await db.query<{ capped: boolean }>(
            `select last_contact_at > now() - make_interval(secs => $2::double precision / 1000)
                    and last_cart_id <> $3 as capped
               from ops.retargeting_contacts where customer_id = $1::bigint for update`,
            [customerId, rules.cooldownMs, cart.cartId],
          );
          if (rows[0].capped) reason = 'frequency_cap';
          else {
            // Held-out customers count as contacted, so the holdout group sees the same cap as the rest.
            await db.query(
              `update ops.retargeting_contacts set last_contact_at = now(), last_cart_id = $2
                where customer_id = $1::bigint`,
              [customerId, cart.cartId],
            );
            if (isInHoldout(customerId, rules.holdoutShare)) reason = 'holdout';
          }
        }
        const decision: RetargetingDecision =
          reason === null ? 'pending' : reason === 'holdout' ? 'held_out' : 'suppressed';
        const messageId = messageIdFor(sendKey, rules.mailFrom);
        await db.query(
          `insert into core.fact_retargeting
             (cart_id, kind, user_session, customer_id, decided_at, decision, reason, offer_type, offer_value,
              offer_code, cart_value, item_count, message_id)
           values ($1, $2, $3, $4::bigint, now(), $5, $6, $7, $8, $9, $10, $11, $12)`,
          [
            cart.cartId,
            kind,
            cart.userSession,
            customerId,
            decision,
            reason,
            offer.type,
            offer.value,
            offer.code,
            cart.value,
            cart.itemCount,
            decision === 'pending' ? messageId : null,
          ],
        );
        if (decision === 'pending') {
          const content: StoredContent = {
            userSession: cart.userSession,
            lines: cart.lines.map((line) => ({
              ...line,
              name: names.get(line.productId) ?? `Product ${line.productId}`,
            })),
            total: cart.value,
            currency: CURRENCY,
            offer,
            cartUrl: cartUrl(cart.userSession, offer.code),
          };
          await db.query(
            `insert into ops.cart_emails (send_key, cart_id, kind, customer_id, message_id, content, status)
             values ($1, $2, $3, $4::bigint, $5, $6, 'pending')`,
            [sendKey, cart.cartId, kind, customerId, messageId, JSON.stringify(content)],
          );
        }
        return { decision, reason, sendKey: decision === 'pending' ? sendKey : null };
      });
      log.info('Retargeting decided', {
        cartId: cart.cartId,
        kind,
        decision: outcome.decision,
        reason: outcome.reason,
      });
      return outcome;
    },

    /**
     * Sends a decided e-mail exactly once. The ledger row is locked (NOWAIT) in a transaction that
     * stays open across the SMTP conversation and commits `sent` right after the server accepted the
     * message: a concurrent attempt cannot take the lock and retries later; a crashed attempt's lock
     * goes with its connection and the next attempt sends. Only a crash in the instant between the
     * server's acceptance and the commit can send a second copy, with the same Message-ID.
     */
    async sendRetargetingEmail(input: { sendKey: string }): Promise<SendOutcome> {
      // Heartbeats tell the server a scheduled send is alive; a local one has none (its workflow task
      // times out instead). Carts started before the local activities still send the scheduled way.
      const context = Context.current();
      const heartbeat = () => {
        if (!context.info.isLocal) context.heartbeat();
      };
      heartbeat();
      const beat = setInterval(heartbeat, HEARTBEAT_MS);
      const db = await warehouse.connect();
      let locked = false;
      try {
        await db.query('begin');
        // A worker cut off from everything must not hold the lock for ever.
        await db.query(`set local idle_in_transaction_session_timeout = '5min'`);
        let row;
        try {
          const result = await db.query<{
            cart_id: string;
            kind: 'abandoned' | 'reminder';
            customer_id: string;
            message_id: string;
            content: StoredContent;
            status: 'pending' | 'sent' | 'suppressed';
            sent_at: Date | null;
            last_error: string | null;
          }>(
            `select cart_id, kind, customer_id::text as customer_id, message_id, content, status, sent_at, last_error
               from ops.cart_emails where send_key = $1 for update nowait`,
            [input.sendKey],
          );
          row = result.rows[0];
          locked = row !== undefined;
        } catch (error) {
          if ((error as { code?: string }).code === '55P03') {
            throw new Error(`Another attempt is sending ${input.sendKey} right now; this one retries later.`);
          }
          throw error;
        }
        if (!row) {
          throw ApplicationFailure.nonRetryable(
            `No e-mail was decided under ${input.sendKey}; decideRetargeting must run first.`,
            'NoSuchEmail',
          );
        }
        if (row.status !== 'pending') {
          await db.query('commit');
          return {
            decision: row.status,
            reason:
              row.status === 'suppressed'
                ? ((row.last_error as NoEmailReason | null) ?? 'unsubscribed')
                : null,
            sentAt: row.sent_at?.toISOString() ?? null,
          };
        }
        const customerId = row.customer_id;
        const contact = await lookUpContact(customerId, row.content.userSession, db);
        // The rules again, at the moment of sending: a shopper may have unsubscribed since the decision.
        let reason: NoEmailReason | null = null;
        if (!contact) reason = 'unknown_customer';
        else if (!contact.consent) reason = 'no_consent';
        else if (!contact.email) reason = 'no_email';
        else if (await isSuppressed(db, customerId, contact.email)) reason = 'unsubscribed';
        if (reason !== null || !contact?.email) {
          await markSuppressed(db, row.cart_id, row.kind, input.sendKey, reason ?? 'no_email');
          await db.query('commit');
          log.info('Retargeting e-mail suppressed at send time', { sendKey: input.sendKey, reason });
          return { decision: 'suppressed', reason, sentAt: null };
        }

        const unsubscribeUrl = `${rules.publicUrl}/v1/unsubscribe?token=${signUnsubscribeToken(unsubscribeSecret(), customerId)}`;
        let recommendations: RecommendedProduct[] = [];
        if (deps.recommend) {
          // In a savepoint: a failed recommender query must not abort the send's transaction.
          await db.query('savepoint recommend');
          try {
            const inCart = row.content.lines.map((line) => line.productId);
            recommendations = await deps.recommend(customerId, inCart, 3, db);
            await db.query('release savepoint recommend');
          } catch (error) {
            await db.query('rollback to savepoint recommend');
            log.warn('The recommender failed; the e-mail goes without recommendations', {
              error: (error as Error).message,
            });
          }
        }
        const rendered = renderCartEmail({
          kind: row.kind,
          firstName: contact.firstName,
          lines: row.content.lines,
          total: row.content.total,
          currency: row.content.currency,
          offer: row.content.offer,
          cartUrl: row.content.cartUrl,
          unsubscribeUrl,
          recommendations,
        });
        let response: string;
        try {
          const info = await mailer.sendMail({
            from: rules.mailFrom,
            to: contact.email,
            messageId: row.message_id,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            headers: {
              'List-Unsubscribe': `<${unsubscribeUrl}>`,
              'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
              'X-Cartflow-Cart': row.cart_id,
              'X-Cartflow-Kind': row.kind,
            },
          });
          response = String(info.response ?? '');
        } catch (error) {
          const smtp = error as { code?: string; responseCode?: number; message: string };
          const permanent =
            (smtp.code === 'EENVELOPE' || smtp.code === 'EMESSAGE') &&
            smtp.responseCode !== undefined &&
            smtp.responseCode >= 500 &&
            smtp.responseCode < 600;
          if (!permanent) throw error;
          // A hard bounce: no retry can help, and the address gets no further marketing e-mail.
          await markSuppressed(db, row.cart_id, row.kind, input.sendKey, 'rejected');
          await db.query(
            `insert into ops.email_suppressions (customer_id, email, reason, source)
             values ($1::bigint, lower($2), 'bounced', $3) on conflict do nothing`,
            [customerId, contact.email, `SMTP ${smtp.responseCode}`],
          );
          await db.query('commit');
          log.warn('The SMTP server rejected a retargeting e-mail for good', {
            sendKey: input.sendKey,
            responseCode: smtp.responseCode,
          });
          return { decision: 'suppressed', reason: 'rejected', sentAt: null };
        }
        const { rows } = await db.query<{ sent_at: Date }>(
          `update ops.cart_emails
              set status = 'sent', sent_at = now(), smtp_response = $2, attempts = attempts + 1,
                  last_attempt_at = now()
            where send_key = $1 returning sent_at`,
          [input.sendKey, response.slice(0, 500)],
        );
        await db.query(
          `update core.fact_retargeting set decision = 'sent', sent_at = $3 where cart_id = $1 and kind = $2`,
          [row.cart_id, row.kind, rows[0].sent_at],
        );
        await db.query('commit');
        log.info('Retargeting e-mail sent', { sendKey: input.sendKey, messageId: row.message_id });
        return { decision: 'sent', reason: null, sentAt: rows[0].sent_at.toISOString() };
      } catch (error) {
        if (locked) {
          // The failed attempt is counted while the row is still ours; the rollback covers a failed count.
          await db
            .query(
              `update ops.cart_emails set attempts = attempts + 1, last_error = $2, last_attempt_at = now()
                where send_key = $1`,
              [input.sendKey, String((error as Error).message).slice(0, 500)],
            )
            .then(() => db.query('commit'))
            .catch(() => db.query('rollback'))
            .catch(() => undefined);
        } else await db.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        clearInterval(beat);
        db.release();
      }
    },

    /** Records a purchase of the cart: a recovery when it had been abandoned, with its revenue attributed. */
    async recordCartPurchase(input: RecordPurchaseInput): Promise<void> {
      const { cart } = input;
      await inTransaction(warehouse, async (db) => {
        await db.query(
          `insert into core.fact_cart_session
             (cart_id, user_session, user_id, customer_id, started_at, last_event_at, outcome, item_count, units,
              cart_value, events, purchased_at, purchase_value)
           values ($1, $2, $3, $4::bigint, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           on conflict (cart_id) do update
             set outcome = excluded.outcome,
                 purchased_at = excluded.purchased_at,
                 purchase_value = excluded.purchase_value,
                 last_event_at = greatest(core.fact_cart_session.last_event_at, excluded.last_event_at),
                 events = greatest(core.fact_cart_session.events, excluded.events),
                 updated_at = now()`,
          [
            cart.cartId,
            cart.userSession,
            cart.userId,
            customerIdOf(cart.userId),
            cart.firstEventAt,
            cart.lastEventAt,
            input.afterAbandonment ? 'recovered' : 'purchased',
            cart.itemCount,
            cart.units,
            cart.value,
            cart.eventCount,
            input.purchasedAt,
            input.purchaseValue,
          ],
        );
        if (input.afterAbandonment) {
          await db.query(
            `update core.fact_retargeting set converted_at = $2, recovered_revenue = $3 where cart_id = $1`,
            [cart.cartId, input.purchasedAt, input.purchaseValue],
          );
        }
      });
    },
  };

  async function markSuppressed(
    db: pg.ClientBase,
    cartId: string,
    kind: string,
    sendKey: string,
    reason: NoEmailReason,
  ): Promise<void> {
    await db.query(
      `update ops.cart_emails set status = 'suppressed', last_error = $2, last_attempt_at = now() where send_key = $1`,
      [sendKey, reason],
    );
    await db.query(
      `update core.fact_retargeting set decision = 'suppressed', reason = $3 where cart_id = $1 and kind = $2`,
      [cartId, kind, reason],
    );
  }
}

export type CartActivities = ReturnType<typeof createCartActivities>;
