/**
 * The cart ledger's SQL: every read and write of the cart activities, one function each, over the
 * connection the caller passes (a transaction's client, or a pool). The exactly-once argument is in
 * docs/carts.md; carts/decide.ts and carts/send.ts say which of these run under which lock.
 */
import type pg from 'pg';
import type { CartSnapshot, NoEmailReason, RetargetingKind } from '../contracts/cart-activities';
import type { Offer, RetargetingDecision } from '../contracts/cart-state';
import type { EmailLine } from './email';
import type { Contact } from './rules';

type Db = pg.Pool | pg.ClientBase;

/** What the e-mail shows, fixed when the e-mail is decided so that every attempt sends the same message. */
export interface StoredContent {
  userSession: string;
  lines: EmailLine[];
  total: number;
  currency: string;
  offer: Offer;
  cartUrl: string;
}

/** A decided e-mail's row, as the send reads it under its lock. */
export interface CartEmailRow {
  cart_id: string;
  kind: RetargetingKind;
  customer_id: string;
  message_id: string;
  content: StoredContent;
  status: 'pending' | 'sent' | 'suppressed';
  sent_at: Date | null;
  last_error: string | null;
}

/**
 * For an abandonment: when the session is idle at the soonest, or null when it is idle now. The
 * ledger knows every event the server accepted, the cart only those it was given. Any event keeps the
 * session open for the idle time after it. A cart event the cart has not seen (still in the outbox, or
 * on its way) keeps it open until it arrives: its arrival wakes the cart, and 30 s is only the
 * fallback. One unseen for 15 minutes means the relay is not running; then the cart decides on what it
 * has. (Views need no waiting for: they do not change the cart, and one that came before the cart
 * began was never sent to it. A cart given events without acceptance times, by a client of its own,
 * counts the undelivered ones instead.)
 */
export async function sessionActiveUntil(
  warehouse: Db,
  userSession: string,
  idleMs: number,
  lastReceivedAt: string | null,
): Promise<Date | null> {
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
    [userSession, idleMs, lastReceivedAt],
  );
  return rows[0].until;
}

/**
 * The customer's name, address and consent, from the shop (the address, when the shop's record lacks
 * one, from a signed-in shopper's events in the warehouse). `warehouseDb` is the connection to read the
 * warehouse through: the send passes the one it holds, since asking the pool for a second while
 * holding one deadlocks once as many sends as the pool has connections wait for it (seen under load:
 * every connection idle in a send's transaction, every send waiting for the pool, no e-mail for
 * minutes).
 */
export async function lookUpContact(
  shop: Db,
  warehouseDb: Db,
  customerId: string,
  userSession: string,
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

export async function isSuppressed(db: Db, customerId: string, email: string | null): Promise<boolean> {
  const { rows } = await db.query(
    `select 1 from ops.email_suppressions where customer_id = $1::bigint or email = lower($2) limit 1`,
    [customerId, email],
  );
  return rows.length > 0;
}

/** The shop's names of the products (ids that are not the shop's numeric ones have none). */
export async function productNames(shop: Db, productIds: string[]): Promise<Map<string, string>> {
  const numeric = productIds.filter((id) => /^\d{1,18}$/.test(id));
  if (numeric.length === 0) return new Map();
  const { rows } = await shop.query<{ product_id: string; name: string }>(
    `select product_id::text as product_id, name from products where product_id = any($1::bigint[])`,
    [numeric],
  );
  return new Map(rows.map((row) => [row.product_id, row.name]));
}

/** Serialises every decision about one e-mail (its send key) until the transaction ends. */
export async function lockSendKey(db: pg.ClientBase, sendKey: string): Promise<void> {
  await db.query(`select pg_advisory_xact_lock(hashtext($1))`, [sendKey]);
}

/** The abandoned cart's session, once: a second decision about it leaves the first row as it is. */
export async function insertAbandonedSession(
  db: pg.ClientBase,
  cart: CartSnapshot,
  customerId: string | null,
): Promise<void> {
  await db.query(
    `insert into core.fact_cart_session
       (cart_id, user_session, user_id, customer_id, started_at, last_event_at, abandoned_at, abandoned_date,
        outcome, item_count, units, cart_value, events)
     values ($1, $2, $3, $4::bigint, $5, $6, now(), (now() at time zone 'UTC')::date,
             'abandoned', $7, $8, $9, $10)
     on conflict (cart_id) do nothing`,
    sessionValues(cart, customerId),
  );
}

/** A cart session row's first ten values, in the order both of its writes list the columns. */
const sessionValues = (cart: CartSnapshot, customerId: string | null) => [
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
];

/** The decision already made for this cart and kind, if any. */
export async function existingDecision(
  db: pg.ClientBase,
  cartId: string,
  kind: RetargetingKind,
): Promise<{ decision: RetargetingDecision; reason: NoEmailReason | null } | undefined> {
  const { rows } = await db.query<{ decision: RetargetingDecision; reason: NoEmailReason | null }>(
    `select decision, reason from core.fact_retargeting where cart_id = $1 and kind = $2`,
    [cartId, kind],
  );
  return rows[0];
}

/**
 * The frequency cap: whether the customer was contacted within `cooldownMs` about another cart, and if
 * not, the contact recorded now (held-out customers count as contacted, so the holdout group sees the
 * same cap as the rest). The row lock serialises decisions per customer: two carts expiring together
 * cannot both pass.
 */
export async function claimContact(
  db: pg.ClientBase,
  customerId: string,
  cartId: string,
  cooldownMs: number,
): Promise<'capped' | 'claimed'> {
  await db.query(
    `insert into ops.retargeting_contacts (customer_id, last_contact_at, last_cart_id)
     values ($1::bigint, '-infinity', '') on conflict (customer_id) do nothing`,
    [customerId],
  );
  const { rows } = await db.query<{ capped: boolean }>(
    `select last_contact_at > now() - make_interval(secs => $2::double precision / 1000)
            and last_cart_id <> $3 as capped
       from ops.retargeting_contacts where customer_id = $1::bigint for update`,
    [customerId, cooldownMs, cartId],
  );
  if (rows[0].capped) return 'capped';
  await db.query(
    `update ops.retargeting_contacts set last_contact_at = now(), last_cart_id = $2
      where customer_id = $1::bigint`,
    [customerId, cartId],
  );
  return 'claimed';
}

export async function insertDecision(
  db: pg.ClientBase,
  row: {
    cart: CartSnapshot;
    kind: RetargetingKind;
    customerId: string | null;
    decision: RetargetingDecision;
    reason: NoEmailReason | null;
    offer: Offer;
    messageId: string | null;
  },
): Promise<void> {
  await db.query(
    `insert into core.fact_retargeting
       (cart_id, kind, user_session, customer_id, decided_at, decision, reason, offer_type, offer_value,
        offer_code, cart_value, item_count, message_id)
     values ($1, $2, $3, $4::bigint, now(), $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      row.cart.cartId,
      row.kind,
      row.cart.userSession,
      row.customerId,
      row.decision,
      row.reason,
      row.offer.type,
      row.offer.value,
      row.offer.code,
      row.cart.value,
      row.cart.itemCount,
      row.messageId,
    ],
  );
}

/** The e-mail to send, claimed under its send key with its content fixed. */
export async function insertPendingEmail(
  db: pg.ClientBase,
  row: {
    sendKey: string;
    cartId: string;
    kind: RetargetingKind;
    customerId: string;
    messageId: string;
    content: StoredContent;
  },
): Promise<void> {
  await db.query(
    `insert into ops.cart_emails (send_key, cart_id, kind, customer_id, message_id, content, status)
     values ($1, $2, $3, $4::bigint, $5, $6, 'pending')`,
    [row.sendKey, row.cartId, row.kind, row.customerId, row.messageId, JSON.stringify(row.content)],
  );
}

/**
 * The e-mail's row, locked NOWAIT for the rest of the transaction; undefined when none was decided.
 * Throws `EmailLocked` when another attempt holds the lock.
 */
export async function lockEmail(db: pg.ClientBase, sendKey: string): Promise<CartEmailRow | undefined> {
  try {
    const { rows } = await db.query<CartEmailRow>(
      `select cart_id, kind, customer_id::text as customer_id, message_id, content, status, sent_at, last_error
         from ops.cart_emails where send_key = $1 for update nowait`,
      [sendKey],
    );
    return rows[0];
  } catch (error) {
    if ((error as { code?: string }).code === '55P03') throw new EmailLocked(sendKey);
    throw error;
  }
}

/** Another attempt is sending this e-mail right now (its row is locked); this one retries later. */
export class EmailLocked extends Error {
  constructor(sendKey: string) {
    super(`Another attempt is sending ${sendKey} right now; this one retries later.`);
    this.name = 'EmailLocked';
  }
}

export async function markSuppressed(
  db: pg.ClientBase,
  email: { cartId: string; kind: string; sendKey: string },
  reason: NoEmailReason,
): Promise<void> {
  await db.query(
    `update ops.cart_emails set status = 'suppressed', last_error = $2, last_attempt_at = now() where send_key = $1`,
    [email.sendKey, reason],
  );
  await db.query(
    `update core.fact_retargeting set decision = 'suppressed', reason = $3 where cart_id = $1 and kind = $2`,
    [email.cartId, email.kind, reason],
  );
}

/** A hard bounce: the address gets no further marketing e-mail. */
export async function suppressBounced(
  db: pg.ClientBase,
  customerId: string,
  email: string,
  source: string,
): Promise<void> {
  await db.query(
    `insert into ops.email_suppressions (customer_id, email, reason, source)
     values ($1::bigint, lower($2), 'bounced', $3) on conflict do nothing`,
    [customerId, email, source],
  );
}

/** The e-mail and its decision marked sent; returns when. */
export async function markSent(
  db: pg.ClientBase,
  email: { cartId: string; kind: string; sendKey: string },
  smtpResponse: string,
): Promise<Date> {
  const { rows } = await db.query<{ sent_at: Date }>(
    `update ops.cart_emails
        set status = 'sent', sent_at = now(), smtp_response = $2, attempts = attempts + 1,
            last_attempt_at = now()
      where send_key = $1 returning sent_at`,
    [email.sendKey, smtpResponse.slice(0, 500)],
  );
  await db.query(
    `update core.fact_retargeting set decision = 'sent', sent_at = $3 where cart_id = $1 and kind = $2`,
    [email.cartId, email.kind, rows[0].sent_at],
  );
  return rows[0].sent_at;
}

/** A failed attempt counted on the e-mail's row. */
export async function countFailedAttempt(db: pg.ClientBase, sendKey: string, error: string): Promise<void> {
  await db.query(
    `update ops.cart_emails set attempts = attempts + 1, last_error = $2, last_attempt_at = now()
      where send_key = $1`,
    [sendKey, error.slice(0, 500)],
  );
}

/** The cart's session as purchased, or recovered when it had been abandoned. */
export async function upsertPurchasedSession(
  db: pg.ClientBase,
  cart: CartSnapshot,
  customerId: string | null,
  purchase: { outcome: 'purchased' | 'recovered'; purchasedAt: string; purchaseValue: number },
): Promise<void> {
  await db.query(
    `insert into core.fact_cart_session
       (cart_id, user_session, user_id, customer_id, started_at, last_event_at, item_count, units,
        cart_value, events, outcome, purchased_at, purchase_value)
     values ($1, $2, $3, $4::bigint, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     on conflict (cart_id) do update
       set outcome = excluded.outcome,
           purchased_at = excluded.purchased_at,
           purchase_value = excluded.purchase_value,
           last_event_at = greatest(core.fact_cart_session.last_event_at, excluded.last_event_at),
           events = greatest(core.fact_cart_session.events, excluded.events),
           updated_at = now()`,
    [...sessionValues(cart, customerId), purchase.outcome, purchase.purchasedAt, purchase.purchaseValue],
  );
}

/** The revenue of a recovered cart, attributed to its retargeting decisions. */
export async function attributeRecovery(
  db: pg.ClientBase,
  cartId: string,
  purchasedAt: string,
  purchaseValue: number,
): Promise<void> {
  await db.query(
    `update core.fact_retargeting set converted_at = $2, recovered_revenue = $3 where cart_id = $1`,
    [cartId, purchasedAt, purchaseValue],
  );
}
