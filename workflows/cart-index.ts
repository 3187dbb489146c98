/**
 * The carts worker's workflow bundle: the cart workflow alone. Every workflow the worker holds in
 * memory instantiates its own copy of the bundle's workflow modules (the SDK's own are shared), so a
 * bundle of only the cart's modules makes each of the thousands of cached carts cheaper to keep and
 * to create than one that also carries the pipeline's workflows.
 */
export { CartWorkflow, cartEventsSignal, cartQuery } from './cart';
