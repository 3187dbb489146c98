import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ModelInput } from '../activities/models';
import { MODELS, type ModelName, type ModelStepResult } from '../contracts/model-summary';
import { TASK_QUEUES } from '../contracts/names';
import { MODEL_FIT } from './pipeline-options';

export interface ModelsInput extends ModelInput {
  /** The task queue of the model activities (default the `ml` queue). */
  taskQueue?: string;
  /** The models to fit (default all). */
  models?: ModelName[];
}

const FIT_ACTIVITY = {
  rfm: 'fitRfm',
  clusters: 'fitClusters',
  growth: 'fitGrowth',
  clv: 'fitClv',
  forecast: 'fitForecast',
  stock: 'fitStock',
  recommendations: 'fitRecommendations',
} as const satisfies Record<ModelName, keyof Activities>;

/** The message at the bottom of a failure chain, which says what went wrong. */
function rootMessage(error: unknown): string {
  let current: unknown = error;
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

/**
 * The models for one logical date, after the star schema is built: RFM, clusters, growth, lifetime
 * value, recommendations, forecasts and the stock outlook read the same facts and do not depend on
 * each other, so they are all scheduled at once on the `ml` task queue (each ml worker process fits
 * one at a time; more processes fit more at once). A model that fails fails its own step (its mart keeps the last good rows); a model
 * without enough data is skipped and says why; the others go on. Returns one small result per model.
 */
export async function ModelsWorkflow(input: ModelsInput): Promise<ModelStepResult[]> {
  const activities = proxyActivities<Activities>({
    ...MODEL_FIT,
    taskQueue: input.taskQueue ?? TASK_QUEUES.ml,
  });
  const models = input.models ?? [...MODELS];
  const started = Date.now();
  return Promise.all(
    models.map(async (model): Promise<ModelStepResult> => {
      try {
        return await activities[FIT_ACTIVITY[model]]({ date: input.date, runId: input.runId });
      } catch (error) {
        const cause = error instanceof ActivityFailure ? error.cause : undefined;
        const skipped = cause instanceof ApplicationFailure && cause.type === 'NotEnoughData';
        return {
          model,
          status: skipped ? 'skipped' : 'failed',
          durationMs: Date.now() - started,
          error: rootMessage(error),
        };
      }
    }),
  );
}
