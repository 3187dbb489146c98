export { DailyPipelineWorkflow } from './daily-pipeline';
export { CartWorkflow, cartEventsSignal, cartQuery } from './cart';
