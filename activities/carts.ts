import { Context, log } from '@temporalio/activity';
import type { Transporter } from 'nodemailer';
import type pg from 'pg';
import { decideRetargeting } from '../carts/decide';
import { recordCartPurchase } from '../carts/purchase';
import { sendRetargetingEmail, type SendDeps } from '../carts/send';
import type {
  DecideRetargetingInput,
  RecordPurchaseInput,
  RetargetingOutcome,
  SendOutcome,
  SessionStillActive,
} from '../contracts/cart-activities';
import type { Config } from '../lib/config';
import { resolveUnsubscribeSecret } from '../lib/unsubscribe';

/** The cart workflow imports the cart's shape from here with the activities' type (contracts/ holds it). */
export type { CartSnapshot } from '../contracts/cart-activities';

export interface CartActivityDeps {
  config: Config;
  warehouse: pg.Pool;
  shop: pg.Pool;
  mailer: Transporter;
  /** Suggests products for the e-mail (carts/recommender.ts); absent: the e-mail has no such section. */
  recommend?: SendDeps['recommend'];
}

/** How often a send heartbeats while it waits for the SMTP server. */
const HEARTBEAT_MS = 2000;

/**
 * The abandoned-cart activities of the carts queue: decide, send and purchase (carts/decide.ts,
 * carts/send.ts, carts/purchase.ts), their SQL in carts/ledger.ts and their rules in carts/rules.ts.
 * The exactly-once argument is in docs/carts.md: a decision is claimed once per cart under a unique
 * key, and the send holds that row's lock from before SMTP until the row says `sent`, in one
 * transaction.
 */
export function createCartActivities(deps: CartActivityDeps) {
  const { config, warehouse, shop, mailer, recommend } = deps;
  const rules = config.carts;
  let secret: string | undefined;
  const unsubscribeSecret = () => (secret ??= resolveUnsubscribeSecret(config));

  return {
    decideRetargeting(input: DecideRetargetingInput): Promise<RetargetingOutcome | SessionStillActive> {
      return decideRetargeting({ rules, warehouse, shop, log }, input);
    },

    sendRetargetingEmail(input: { sendKey: string }): Promise<SendOutcome> {
      // Heartbeats tell the server a scheduled send is alive; a local one has none (its workflow task
      // times out instead). Carts started before the local activities still send the scheduled way.
      const context = Context.current();
      const heartbeat = () => {
        if (!context.info.isLocal) context.heartbeat();
      };
      return sendRetargetingEmail(
        {
          rules,
          warehouse,
          shop,
          mailer,
          log,
          unsubscribeSecret,
          heartbeat,
          heartbeatMs: HEARTBEAT_MS,
          recommend,
        },
        input,
      );
    },

    recordCartPurchase(input: RecordPurchaseInput): Promise<void> {
      return recordCartPurchase({ warehouse }, input);
    },
  };
}

export type CartActivities = ReturnType<typeof createCartActivities>;
