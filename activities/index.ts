import type { Transporter } from 'nodemailer';
import type pg from 'pg';
import type { Config } from '../lib/config';
import { createCartRecommender } from './cart-recommendations';
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

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPipelineRunActivities(deps),
    ...createDailyPipelineActivities(deps),
    ...createCartActivities({ ...deps, recommend: createCartRecommender(deps) }),
    ...createModelActivities(deps),
    ...createForecastActivities(deps),
    ...createStockActivities(deps),
    ...createRecommendationActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
