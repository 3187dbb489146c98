import crypto from 'node:crypto';

/**
 * The shop's rules for retargeting e-mails that need no database: who is in the holdout group, and
 * how the reasons for not sending are named. The benchmark uses the same functions to know which
 * carts should get an e-mail.
 */

/** Why a cart got no e-mail, in the order the rules are checked. */
export const NO_EMAIL_REASONS = [
  'unknown_customer',
  'no_consent',
  'no_email',
  'unsubscribed',
  'frequency_cap',
  'holdout',
] as const;
export type NoEmailReason = (typeof NO_EMAIL_REASONS)[number] | 'rejected';

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
