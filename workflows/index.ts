export { DailyPipelineWorkflow } from './daily-pipeline';
