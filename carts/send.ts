import { ApplicationFailure } from '@temporalio/common';
import type { Transporter } from 'nodemailer';
import type pg from 'pg';
import type { NoEmailReason, SendOutcome } from '../contracts/cart-activities';
import type { CartsConfig } from '../lib/config';
import { signUnsubscribeToken } from '../lib/unsubscribe';
import type { CartLog } from './decide';
import { renderCartEmail, type RecommendedProduct } from './email';
import * as ledger from './ledger';
import { contactRefusal } from './rules';

export interface SendDeps {
  rules: CartsConfig;
  warehouse: pg.Pool;
  shop: pg.Pool;
  mailer: Transporter;
  log: CartLog;
  /** The secret unsubscribe links are signed with. */
  unsubscribeSecret: () => string;
  /** Tells the server the send is alive; called every `heartbeatMs` while it runs. */
  heartbeat: () => void;
  heartbeatMs: number;
  /** Suggests products for the e-mail, never those of the cart; none (or absent): the section is left out. */
  /** Reads the warehouse through `warehouseDb`: the send holds one of the pool's connections while it runs. */
  recommend?: (
    customerId: string,
    cartProductIds: string[],
    limit: number,
    warehouseDb: pg.ClientBase,
  ) => Promise<RecommendedProduct[]>;
}

/**
 * Sends a decided e-mail exactly once. The ledger row is locked (NOWAIT) in a transaction that
 * stays open across the SMTP conversation and commits `sent` right after the server accepted the
 * message: a concurrent attempt cannot take the lock and retries later; a crashed attempt's lock
 * goes with its connection and the next attempt sends. Only a crash in the instant between the
 * server's acceptance and the commit can send a second copy, with the same Message-ID.
 */
export async function sendRetargetingEmail(deps: SendDeps, input: { sendKey: string }): Promise<SendOutcome> {
  const { rules, warehouse, shop, mailer, log } = deps;
  deps.heartbeat();
  const beat = setInterval(deps.heartbeat, deps.heartbeatMs);
  const db = await warehouse.connect();
  let locked = false;
  try {
    await db.query('begin');
    // A worker cut off from everything must not hold the lock for ever.
    await db.query(`set local idle_in_transaction_session_timeout = '5min'`);
    const row = await ledger.lockEmail(db, input.sendKey);
    locked = row !== undefined;
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
          row.status === 'suppressed' ? ((row.last_error as NoEmailReason | null) ?? 'unsubscribed') : null,
        sentAt: row.sent_at?.toISOString() ?? null,
      };
    }
    const email = { cartId: row.cart_id, kind: row.kind, sendKey: input.sendKey };
    const customerId = row.customer_id;
    const contact = await ledger.lookUpContact(shop, db, customerId, row.content.userSession);
    // The rules again, at the moment of sending: a shopper may have unsubscribed since the decision.
    const reason = await contactRefusal(contact, (id, address) => ledger.isSuppressed(db, id, address));
    if (reason !== null || !contact?.email) {
      await ledger.markSuppressed(db, email, reason ?? 'no_email');
      await db.query('commit');
      log.info('Retargeting e-mail suppressed at send time', { sendKey: input.sendKey, reason });
      return { decision: 'suppressed', reason, sentAt: null };
    }

    const unsubscribeUrl = `${rules.publicUrl}/v1/unsubscribe?token=${signUnsubscribeToken(deps.unsubscribeSecret(), customerId)}`;
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
      const responseCode = permanentRejection(error);
      if (responseCode === undefined) throw error;
      // A hard bounce: no retry can help, and the address gets no further marketing e-mail.
      await ledger.markSuppressed(db, email, 'rejected');
      await ledger.suppressBounced(db, customerId, contact.email, `SMTP ${responseCode}`);
      await db.query('commit');
      log.warn('The SMTP server rejected a retargeting e-mail for good', {
        sendKey: input.sendKey,
        responseCode,
      });
      return { decision: 'suppressed', reason: 'rejected', sentAt: null };
    }
    const sentAt = await ledger.markSent(db, email, response);
    await db.query('commit');
    log.info('Retargeting e-mail sent', { sendKey: input.sendKey, messageId: row.message_id });
    return { decision: 'sent', reason: null, sentAt: sentAt.toISOString() };
  } catch (error) {
    if (locked) {
      // The failed attempt is counted while the row is still ours; the rollback covers a failed count.
      await ledger
        .countFailedAttempt(db, input.sendKey, String((error as Error).message))
        .then(() => db.query('commit'))
        .catch(() => db.query('rollback'))
        .catch(() => undefined);
    } else await db.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    clearInterval(beat);
    db.release();
  }
}

/** The SMTP response code of a permanent rejection (5xx of the envelope or message), else undefined. */
function permanentRejection(error: unknown): number | undefined {
  const smtp = error as { code?: string; responseCode?: number };
  const permanent =
    (smtp.code === 'EENVELOPE' || smtp.code === 'EMESSAGE') &&
    smtp.responseCode !== undefined &&
    smtp.responseCode >= 500 &&
    smtp.responseCode < 600;
  return permanent ? smtp.responseCode : undefined;
}
