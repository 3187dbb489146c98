export { DailyPipelineWorkflow } from './daily-pipeline';
export { ExtractLoadWorkflow } from './extract-load';
export { CartWorkflow, cartEventsSignal, cartQuery } from './cart';
