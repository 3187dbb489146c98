export { DailyPipelineWorkflow } from './daily-pipeline';
export { ExtractLoadWorkflow } from './extract-load';
export { SourcePipelineWorkflow } from './source-pipeline';
export { ModelsWorkflow } from './models';
export { CartWorkflow, cartEventsSignal, cartQuery } from './cart';
