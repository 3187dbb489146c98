/**
 * The workflow of bench:carts' ceiling reference: the Temporal work of a cart's events without the cart
 * — each signal wakes it and restarts a timer, as an event restarts a cart's idle timer — and nothing
 * else: no state beyond a count, no activities, no search attributes.
 */
import { CancellationScope, condition, defineSignal, setHandler, sleep } from '@temporalio/workflow';

export const pokeSignal = defineSignal('poke');

/** Ends after `signals` signals; returns how often it woke, about one workflow task each. */
export async function CeilingWorkflow(signals: number): Promise<number> {
  let received = 0;
  setHandler(pokeSignal, () => void received++);
  let seen = 0;
  let wakeups = 0;
  let timer: CancellationScope | undefined;
  while (seen < signals) {
    await condition(() => received > seen);
    seen = received;
    wakeups++;
    timer?.cancel();
    timer = new CancellationScope();
    timer.run(() => sleep('1 hour')).catch(() => undefined);
  }
  return wakeups;
}
