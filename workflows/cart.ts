import {
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, type LocalActivityOptions } from '@temporalio/common';
import type { CartSnapshot, CartActivities } from '../activities/carts';
import { CART_QUERIES, CART_SIGNALS } from '../contracts/names';
import {
  applyEvents,
  cartLines,
  cartTotals,
  chooseOffer,
  describeCart,
  newCartState,
  nextDeadline,
  openStage,
  viewOf,
  type CartEvent,
  type CartEventBatch,
  type CartState,
  type CartView,
  type OfferRules,
} from '../contracts/cart-state';

export const cartEventsSignal = defineSignal<[CartEventBatch]>(CART_SIGNALS.events);
export const cartQuery = defineQuery<CartView>(CART_QUERIES.cart);

/** The search attributes a cart shows in the Temporal UI: ids and amounts, never names or addresses. */
export const CART_SEARCH_ATTRIBUTES = {
  customerId: defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD),
  cartValue: defineSearchAttributeKey('CartValue', SearchAttributeType.DOUBLE),
  stage: defineSearchAttributeKey('Stage', SearchAttributeType.KEYWORD),
};

/** What a cart needs to know, fixed when the server starts it (from the config, never from the environment). */
export interface CartSettings extends OfferRules {
  sessionIdleMs: number;
  /** The second reminder after the first e-mail; null for none. */
  reminderDelayMs: number | null;
  attributionWindowMs: number;
  /** Continue-as-new after this many events in one run, besides when the server suggests it. */
  continueAsNewAfterEvents?: number;
}

export interface CartWorkflowInput {
  userSession: string;
  settings: CartSettings;
  /** The Stage the server started the cart with (its first events held an item); 'browsing' when absent. */
  startedAs?: CartView['stage'];
  /** The state a previous run of this cart carried over by continue-as-new, deadlines included. */
  carried?: CartState;
  /**
   * Set by the server for every cart it starts: the cart runs local activities and one idle timer
   * restarted per event from its first task, so it needs no `patched()` marker — whose
   * `TemporalChangeVersion` search attribute costs the Temporal server a visibility write per cart.
   * Carts started without it (before this field) ask `patched()` as they always did.
   */
  localActivities?: true;
}

export interface CartWorkflowResult {
  cartId: string;
  stage: CartView['stage'];
  outcome: 'browsed' | 'purchased' | 'recovered' | 'not_recovered';
}

const DECIDE_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
};
const SEND_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '2 minutes',
  // SMTP may be down for a while: keep trying, at most 5 s apart, so the e-mail goes soon after it is back.
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    nonRetryableErrorTypes: ['NoSuchEmail'],
  },
};

/**
 * The cart's activities run as local activities: inside the workflow task that needs them, on the
 * worker that holds the cart, recorded as markers in that task's completion. The e-mail then leaves
 * in the same workflow task as the timer that found the session idle, and the Temporal server — the
 * platform's bottleneck under load — stores one task instead of three. A worker killed mid-send loses
 * the task: the server hands it to another worker after the task's timeout, which decides again (the
 * decision is stored once per cart) and sends under the same claim.
 */
const localActivities = {
  decideRetargeting: proxyLocalActivities<CartActivities>(DECIDE_OPTIONS).decideRetargeting,
  recordCartPurchase: proxyLocalActivities<CartActivities>(DECIDE_OPTIONS).recordCartPurchase,
  sendRetargetingEmail: proxyLocalActivities<CartActivities>(SEND_OPTIONS).sendRetargetingEmail,
};

/** Carts started before the local activities ran them as ordinary activities; they finish that way. */
const scheduledActivities: typeof localActivities = {
  decideRetargeting: proxyActivities<CartActivities>(DECIDE_OPTIONS).decideRetargeting,
  recordCartPurchase: proxyActivities<CartActivities>(DECIDE_OPTIONS).recordCartPurchase,
  // A worker killed mid-send is noticed within this long, and the send retried elsewhere.
  sendRetargetingEmail: proxyActivities<CartActivities>({ ...SEND_OPTIONS, heartbeatTimeout: '10 seconds' })
    .sendRetargetingEmail,
};

/** The patch that moved the cart to local activities and an idle timer restarted by every event. */
export const CART_LOCAL_ACTIVITIES_PATCH = 'cart-local-activities-timer-per-event';

/**
 * One shopping cart, `cart-<user_session>`: it applies the storefront's events, restarts the idle timer
 * on each, and when the session expires with items in the cart, decides the offer and has the
 * retargeting e-mail sent. It then waits for a purchase (attributed as a recovery), the optional
 * reminder, or the end of the attribution window. A purchase ends the cart once the session is quiet.
 */
export async function CartWorkflow(input: CartWorkflowInput): Promise<CartWorkflowResult> {
  const { settings } = input;
  const pending: CartEvent[] = [];
  const state: CartState =
    input.carried ??
    newCartState(
      input.userSession,
      `${input.userSession}:${workflowInfo().firstExecutionRunId.slice(0, 8)}`,
      undefined,
    );
  let eventsThisRun = 0;

  setHandler(cartEventsSignal, (batch) => {
    pending.push(...batch.events);
  });
  setHandler(cartQuery, () => viewOf(state));
  const sincePatch = input.localActivities === true || patched(CART_LOCAL_ACTIVITIES_PATCH);
  const activities = sincePatch ? localActivities : scheduledActivities;

  // Search attributes are written when the stage changes (each write costs the server a visibility
  // update); the query and the current details always show the live cart.
  // The server starts a cart with its CustomerId, and the Stage and CartValue of its first events.
  let shownStage = input.carried?.stage ?? input.startedAs ?? 'browsing';
  const show = () => {
    if (shownStage !== state.stage) {
      upsertSearchAttributes([
        { key: CART_SEARCH_ATTRIBUTES.customerId, value: state.userId || null },
        { key: CART_SEARCH_ATTRIBUTES.cartValue, value: cartTotals(cartLines(state)).value },
        { key: CART_SEARCH_ATTRIBUTES.stage, value: state.stage },
      ]);
      shownStage = state.stage;
    }
    setCurrentDetails(describeCart(state));
  };

  // One timer at a time, restarted whenever the deadline moves: its cancel and start ride in the
  // workflow task that applied the events, so a timer that fires always finds the deadline reached.
  // (Carts before the patch kept a timer that ended too early and armed it again for what was left,
  // one more workflow task per event.)
  let timer: { at: number; scope: CancellationScope } | null = null;
  let woke = false;
  const armTimer = (deadline: number | null) => {
    if (deadline === null || (timer !== null && (sincePatch ? timer.at === deadline : timer.at <= deadline)))
      return;
    timer?.scope.cancel();
    const scope = new CancellationScope();
    const armed = { at: deadline, scope };
    timer = armed;
    scope
      .run(() => sleep(Math.max(1, deadline - Date.now())))
      .then(
        () => {
          if (timer === armed) {
            timer = null;
            woke = true;
          }
        },
        () => undefined,
      );
  };

  const snapshot = (): CartSnapshot => {
    const lines = cartLines(state);
    return {
      cartId: state.cartId,
      userSession: state.userSession,
      userId: state.userId,
      lines,
      ...cartTotals(lines),
      firstEventAt: state.firstEventAt,
      lastEventAt: state.lastEventAt,
      eventCount: state.eventCount,
    };
  };

  for (;;) {
    const deadline = nextDeadline(state);
    if (pending.length === 0 && (deadline === null || deadline > Date.now())) {
      armTimer(deadline);
      await condition(() => pending.length > 0 || woke);
      woke = false;
    }

    if (pending.length > 0) {
      const batch = pending.splice(0, pending.length);
      const { applied, purchased } = applyEvents(state, batch);
      eventsThisRun += applied;
      if (applied > 0) {
        const wasAbandoned = state.stage === 'abandoned';
        if (purchased) {
          state.stage = 'purchased';
          state.reminderAt = null;
          state.attributionEndsAt = null;
          await activities.recordCartPurchase({
            cart: snapshot(),
            purchasedAt: state.purchase!.at,
            purchaseValue: state.purchase!.value,
            afterAbandonment: state.abandonedAt !== null,
          });
        } else if (state.stage === 'browsing' || state.stage === 'cart') {
          state.stage = openStage(state);
        }
        // An abandoned cart keeps its reminder and attribution deadlines; any other restarts its idle timer.
        // The idle time counts from when the server accepted the latest event, so an event that reached
        // the cart late does not stretch the session (events signalled without that time count from now).
        if (!wasAbandoned || state.stage === 'purchased') {
          const basis =
            state.lastReceivedAt !== null && batch.every((event) => event.receivedAt !== undefined)
              ? Date.parse(state.lastReceivedAt)
              : Date.now();
          state.idleDeadline = basis + settings.sessionIdleMs;
        }
        show();
      }
    } else if (deadline !== null && Date.now() >= deadline) {
      const now = Date.now();
      if (state.idleDeadline !== null && now >= state.idleDeadline) {
        state.idleDeadline = null;
        if (state.stage === 'browsing' || state.stage === 'purchased') {
          show();
          return finish(state);
        }
        if (state.stage === 'cart') {
          state.stage = 'abandoned';
          show();
          await abandon(state, settings, snapshot, activities);
        }
        show();
      } else if (state.reminderAt !== null && now >= state.reminderAt) {
        state.reminderAt = null;
        await remind(state, snapshot, activities);
        show();
      } else if (state.attributionEndsAt !== null && now >= state.attributionEndsAt) {
        state.attributionEndsAt = null;
        show();
        return finish(state);
      }
    }

    const tooLong =
      settings.continueAsNewAfterEvents !== undefined && eventsThisRun >= settings.continueAsNewAfterEvents;
    if (pending.length === 0 && (workflowInfo().continueAsNewSuggested || tooLong)) {
      log.info('Cart continues as new', { cartId: state.cartId, events: state.eventCount });
      // The deadlines are absolute workflow times, so the next run's timers end when these would have.
      await continueAsNew<typeof CartWorkflow>({
        userSession: input.userSession,
        settings,
        carried: state,
        ...(sincePatch ? { localActivities: true as const } : {}),
      });
    }
  }
}

type CartActivityStubs = typeof localActivities;

async function abandon(
  state: CartState,
  settings: CartSettings,
  snapshot: () => CartSnapshot,
  { decideRetargeting, sendRetargetingEmail }: CartActivityStubs,
): Promise<void> {
  const cart = snapshot();
  const offer = chooseOffer(cart.value, settings, uuid4());
  const decided = await decideRetargeting({
    kind: 'abandoned',
    cart,
    offer,
    sessionIdleMs: settings.sessionIdleMs,
    lastReceivedAt: state.lastReceivedAt,
  });
  if (decided.decision === 'still_active') {
    // The server accepted an event the cart has not been given yet: wait for it, and for the idle time.
    state.stage = 'cart';
    state.idleDeadline = Math.max(Date.now() + 1, Date.parse(decided.until));
    return;
  }
  state.offer = offer;
  state.abandonedAt = Date.now();
  state.attributionEndsAt = state.abandonedAt + settings.attributionWindowMs;
  state.decision = { decision: decided.decision, reason: decided.reason };
  if (decided.sendKey !== null) {
    const sent = await sendRetargetingEmail({ sendKey: decided.sendKey });
    state.decision = { decision: sent.decision, reason: sent.reason };
    if (sent.decision === 'sent' && settings.reminderDelayMs !== null) {
      state.reminderAt = Date.now() + settings.reminderDelayMs;
    }
  }
  log.info('Cart abandoned', {
    cartId: state.cartId,
    decision: state.decision.decision,
    reason: state.decision.reason,
  });
}

async function remind(
  state: CartState,
  snapshot: () => CartSnapshot,
  { decideRetargeting, sendRetargetingEmail }: CartActivityStubs,
): Promise<void> {
  const cart = snapshot();
  if (cart.lines.length === 0 || state.offer === null) return;
  const decided = await decideRetargeting({ kind: 'reminder', cart, offer: state.offer });
  if (decided.decision === 'still_active') return;
  state.reminder = { decision: decided.decision, reason: decided.reason };
  if (decided.sendKey !== null) {
    const sent = await sendRetargetingEmail({ sendKey: decided.sendKey });
    state.reminder = { decision: sent.decision, reason: sent.reason };
  }
}

function finish(state: CartState): CartWorkflowResult {
  const outcome =
    state.stage === 'browsing'
      ? 'browsed'
      : state.stage === 'purchased'
        ? state.abandonedAt !== null
          ? 'recovered'
          : 'purchased'
        : 'not_recovered';
  return { cartId: state.cartId, stage: state.stage, outcome };
}
