import crypto from 'node:crypto';
import type { NoEmailReason } from '../contracts/cart-activities';

/**
 * The shop's rules for retargeting e-mails that need no database: who may get one, who is in the
 * holdout group, and how an e-mail's Message-ID is made. The benchmark uses the same functions to
 * know which carts should get an e-mail.
 */

export { NO_EMAIL_REASONS, type NoEmailReason } from '../contracts/cart-activities';

/** The customer's record as the rules read it: who they are, whether they agreed, where to write. */
export interface Contact {
  customerId: string;
  firstName: string | null;
  email: string | null;
  consent: boolean;
}

/**
 * The rules every e-mail passes, in NO_EMAIL_REASONS' order, at the decision and again at the moment
 * of sending (a shopper may have unsubscribed in between): a known customer who agreed to hear from
 * the shop, with an address, not on the suppression list. Null: send. `isSuppressed` is asked last,
 * only when the others pass (it reads the database).
 */
export async function contactRefusal(
  contact: Contact | undefined,
  isSuppressed: (customerId: string, email: string) => Promise<boolean>,
): Promise<NoEmailReason | null> {
  if (!contact) return 'unknown_customer';
  if (!contact.consent) return 'no_consent';
  if (!contact.email) return 'no_email';
  if (await isSuppressed(contact.customerId, contact.email)) return 'unsubscribed';
  return null;
}

/**
 * The customer's place in [0, 1), from a hash of the id alone: the same customer is always in or out
 * of the holdout group, on every worker, in every run, whatever the cart.
 */
export function holdoutPosition(customerId: string): number {
  const digest = crypto.createHash('sha256').update(`cartflow-holdout:${customerId}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

export function isInHoldout(customerId: string, share: number): boolean {
  return holdoutPosition(customerId) < share;
}

/** The shop's numeric customer id in a storefront user_id, or null when it is not one. */
export function customerIdOf(userId: string): string | null {
  return /^\d{1,18}$/.test(userId) ? String(BigInt(userId)) : null;
}

/** A Message-ID derived from the send key alone, so every attempt to send the same e-mail carries the same one. */
export function messageIdFor(sendKey: string, mailFrom: string): string {
  const domain = /@([^\s>]+)>?\s*$/.exec(mailFrom)?.[1] ?? 'cartflow.localhost';
  const hash = crypto.createHash('sha256').update(sendKey).digest('hex').slice(0, 32);
  return `<cart-${hash}@${domain}>`;
}
