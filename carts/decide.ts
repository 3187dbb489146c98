import type pg from 'pg';
import type {
  DecideRetargetingInput,
  NoEmailReason,
  RetargetingOutcome,
  SessionStillActive,
} from '../contracts/cart-activities';
import type { RetargetingDecision } from '../contracts/cart-state';
import { cartEmailKey } from '../contracts/names';
import type { CartsConfig } from '../lib/config';
import { inTransaction } from '../lib/db';
import * as ledger from './ledger';
import { contactRefusal, customerIdOf, isInHoldout, messageIdFor } from './rules';

export interface DecideDeps {
  rules: CartsConfig;
  warehouse: pg.Pool;
  shop: pg.Pool;
  log: CartLog;
}

/** Where the cart activities write what they did (the activity's logger, with its ids). */
export interface CartLog {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
}

/**
 * Records an abandoned cart and decides what to do about it under the shop's rules: send (the
 * decision is `pending` and an e-mail row is claimed), hold out, or suppress with a reason.
 * Idempotent: a decision already made for this cart and kind is returned as it was. Every decision
 * about one e-mail is taken under its send key's lock, in one transaction.
 */
export async function decideRetargeting(
  deps: DecideDeps,
  input: DecideRetargetingInput,
): Promise<RetargetingOutcome | SessionStillActive> {
  const { rules, warehouse, shop } = deps;
  const { cart, kind, offer } = input;
  const sendKey = cartEmailKey(cart.cartId, kind);
  if (kind === 'abandoned' && input.sessionIdleMs !== undefined) {
    const until = await ledger.sessionActiveUntil(
      warehouse,
      cart.userSession,
      input.sessionIdleMs,
      input.lastReceivedAt ?? null,
    );
    if (until !== null) return { decision: 'still_active', until: until.toISOString() };
  }
  const customerId = customerIdOf(cart.userId);
  const contact = customerId
    ? await ledger.lookUpContact(shop, warehouse, customerId, cart.userSession)
    : undefined;
  const names = await ledger.productNames(
    shop,
    cart.lines.map((line) => line.productId),
  );

  const outcome = await inTransaction(warehouse, async (db): Promise<RetargetingOutcome> => {
    await ledger.lockSendKey(db, sendKey);
    if (kind === 'abandoned') await ledger.insertAbandonedSession(db, cart, customerId);
    const existing = await ledger.existingDecision(db, cart.cartId, kind);
    if (existing) {
      const { decision, reason } = existing;
      return { decision, reason, sendKey: decision === 'pending' || decision === 'sent' ? sendKey : null };
    }

    let reason: NoEmailReason | null = await contactRefusal(contact, (id, email) =>
      ledger.isSuppressed(db, id, email),
    );
    if (reason === null && customerId && kind === 'abandoned') {
      if ((await ledger.claimContact(db, customerId, cart.cartId, rules.cooldownMs)) === 'capped')
        reason = 'frequency_cap';
      else if (isInHoldout(customerId, rules.holdoutShare)) reason = 'holdout';
    }
    const decision: RetargetingDecision =
      reason === null ? 'pending' : reason === 'holdout' ? 'held_out' : 'suppressed';
    const messageId = messageIdFor(sendKey, rules.mailFrom);
    await ledger.insertDecision(db, {
      cart,
      kind,
      customerId,
      decision,
      reason,
      offer,
      messageId: decision === 'pending' ? messageId : null,
    });
    if (decision === 'pending' && customerId) {
      await ledger.insertPendingEmail(db, {
        sendKey,
        cartId: cart.cartId,
        kind,
        customerId,
        messageId,
        content: {
          userSession: cart.userSession,
          lines: cart.lines.map((line) => ({
            ...line,
            name: names.get(line.productId) ?? `Product ${line.productId}`,
          })),
          total: cart.value,
          currency: rules.currency,
          offer,
          cartUrl: cartUrl(rules.cartUrlTemplate, cart.userSession, offer.code),
        },
      });
    }
    return { decision, reason, sendKey: decision === 'pending' ? sendKey : null };
  });
  deps.log.info('Retargeting decided', {
    cartId: cart.cartId,
    kind,
    decision: outcome.decision,
    reason: outcome.reason,
  });
  return outcome;
}

/** The link back to the cart, with the offer's code. */
function cartUrl(template: string, userSession: string, code: string): string {
  return template
    .replaceAll('{session}', encodeURIComponent(userSession))
    .replaceAll('{code}', encodeURIComponent(code));
}
