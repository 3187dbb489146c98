import type { Transporter } from 'nodemailer';
import type pg from 'pg';
import type { TASK_QUEUES } from '../contracts/names';
import type { Config } from '../lib/config';
import { createCartRecommender } from '../carts/recommender';
import { createCartActivities } from './carts';
import { createDailyPipelineActivities } from './daily-pipeline';
import { createModelActivities } from './models';
import { createForecastActivities } from './models/forecast';
import { createStockActivities } from './models/stock';
import { createRecommendationActivities } from './models/recommendations';
import { createPipelineRunActivities } from './pipeline-runs';

/** What activities need from the outside world; built once by the worker, the composition root. */
export interface ActivityDeps {
  config: Config;
  warehouse: pg.Pool;
  shop: pg.Pool;
  /** Sends e-mail over SMTP_URL. */
  mailer: Transporter;
}

/**
 * Each task queue's activities, built when its worker starts: a worker registers those of its own
 * queue only (the etl queue the pipeline's, the ml queue the model fits, the carts queue the cart's).
 */
export function createQueueActivities(deps: ActivityDeps) {
  return {
    etl: once(() => ({ ...createPipelineRunActivities(deps), ...createDailyPipelineActivities(deps) })),
    ml: once(() => ({
      ...createModelActivities(deps),
      ...createForecastActivities(deps),
      ...createStockActivities(deps),
      ...createRecommendationActivities(deps),
    })),
    carts: once(() => createCartActivities({ ...deps, recommend: createCartRecommender(deps) })),
  } satisfies Record<keyof typeof TASK_QUEUES, () => object>;
}

/** Builds a queue's activities the first time they are asked for, and hands out the same ones after. */
function once<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => (built ??= build());
}

/** Every queue's activities together: the type workflows proxy (import type), and tests' one-stop set. */
export function createActivities(deps: ActivityDeps) {
  const queues = createQueueActivities(deps);
  return { ...queues.etl(), ...queues.ml(), ...queues.carts() };
}

export type Activities = ReturnType<typeof createActivities>;
