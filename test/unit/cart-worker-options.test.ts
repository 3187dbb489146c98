import { CART_WORKER_OPTIONS, CART_WORKFLOW_TASK_SLOTS } from '../../workers/workers';

describe('the carts worker', () => {
  it('takes its workflow-task slots from a supplier without a fixed size, so the shared queue keeps its pollers while the sticky queue has a backlog', () => {
    const options = CART_WORKER_OPTIONS(4000);
    // The SDK's core holds the shared queue (every new cart's first task) to one poller under a
    // sticky backlog only for a fixed-size supplier; resource-based with min = max is the same count without that rule.
    expect(options.tuner.workflowTaskSlotSupplier).toEqual({
      type: 'resource-based',
      minimumSlots: CART_WORKFLOW_TASK_SLOTS,
      maximumSlots: CART_WORKFLOW_TASK_SLOTS,
      tunerOptions: { targetMemoryUsage: 0.9, targetCpuUsage: 0.9 },
    });
    expect(CART_WORKFLOW_TASK_SLOTS).toBe(40);
    expect(options.nonStickyToStickyPollRatio).toBe(0.5);
    expect(options.maxCachedWorkflows).toBe(4000);
  });
});
