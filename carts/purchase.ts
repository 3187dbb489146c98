import type pg from 'pg';
import type { RecordPurchaseInput } from '../contracts/cart-activities';
import { inTransaction } from '../lib/db';
import * as ledger from './ledger';
import { customerIdOf } from './rules';

/** Records a purchase of the cart: a recovery when it had been abandoned, with its revenue attributed. */
export async function recordCartPurchase(
  deps: { warehouse: pg.Pool },
  input: RecordPurchaseInput,
): Promise<void> {
  const { cart } = input;
  await inTransaction(deps.warehouse, async (db) => {
    await ledger.upsertPurchasedSession(db, cart, customerIdOf(cart.userId), {
      outcome: input.afterAbandonment ? 'recovered' : 'purchased',
      purchasedAt: input.purchasedAt,
      purchaseValue: input.purchaseValue,
    });
    if (input.afterAbandonment)
      await ledger.attributeRecovery(db, cart.cartId, input.purchasedAt, input.purchaseValue);
  });
}
