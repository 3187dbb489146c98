export { DailyPipelineWorkflow } from './daily-pipeline';
export { ExtractLoadWorkflow } from './extract-load';
export { ModelsWorkflow } from './models';
export { CartWorkflow, cartEventsSignal, cartQuery } from './cart';
