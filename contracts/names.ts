/**
 * Names other programs and processes agree on: task queues, workflow ids, signals, queries and
 * search attributes. Pure: workflow code imports it.
 */
export const TASK_QUEUES = { etl: 'cartflow-etl', ml: 'cartflow-ml', carts: 'cartflow-carts' } as const;

export const SEARCH_ATTRIBUTES = {
  CustomerId: 'KEYWORD',
  CartValue: 'DOUBLE',
  Stage: 'KEYWORD',
  PipelineDate: 'KEYWORD',
} as const;

export const SCHEDULE_IDS = { dailyPipeline: 'daily-pipeline' } as const;

export function dailyPipelineWorkflowId(date: string): string {
  return `daily-${date}`;
}

/**
 * The workflow that extracts, transforms and reconciles one source for a daily run. One id per source
 * and task queue (one deployment's workers): Temporal runs at most one workflow per id at a time, so
 * two dates' runs of a source take turns, and another deployment on the same namespace is not held up.
 */
export function sourcePipelineWorkflowId(taskQueue: string, source: string): string {
  return `${taskQueue}-source-${source}`;
}

export function cartWorkflowId(userSession: string): string {
  return `cart-${userSession}`;
}

/** The signal that carries a batch of storefront events to a cart, and the query that reads it back. */
export const CART_SIGNALS = { events: 'cartEvents' } as const;
export const CART_QUERIES = { cart: 'cart' } as const;

/** The key an e-mail about a cart is sent exactly once under; also the base of its Message-ID. */
export function cartEmailKey(cartId: string, kind: 'abandoned' | 'reminder'): string {
  return `${cartId}/${kind}`;
}
