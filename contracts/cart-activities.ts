/**
 * What the cart workflow and its activities hand each other (activities/carts.ts wires them, carts/
 * holds their logic). Pure types: the workflow imports them without the activities' code.
 */
import type { CartLine, Offer, RetargetingDecision } from './cart-state';

/** Why a cart got no e-mail, in the order the rules are checked (carts/rules.ts checks them). */
export const NO_EMAIL_REASONS = [
  'unknown_customer',
  'no_consent',
  'no_email',
  'unsubscribed',
  'frequency_cap',
  'holdout',
] as const;
export type NoEmailReason = (typeof NO_EMAIL_REASONS)[number] | 'rejected';

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

export type RetargetingKind = 'abandoned' | 'reminder';

export interface DecideRetargetingInput {
  kind: RetargetingKind;
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
