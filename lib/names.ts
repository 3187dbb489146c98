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

export function cartWorkflowId(userSession: string): string {
  return `cart-${userSession}`;
}
