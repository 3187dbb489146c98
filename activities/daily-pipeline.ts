import type pg from 'pg';
import type { Config } from '../lib/config';
import { createExtractLoadActivities } from './extract/extract-load';
import { routeSourceKinds } from './extract/source-kinds';
import { listSources, SourcePools } from './sources/registry';
import { createReconcileActivities } from './transform/reconcile';
import { createTransformActivities } from './transform/transform';

export interface DailyPipelineDeps {
  config: Config;
  warehouse: pg.Pool;
  /** The demo shop's database, the built-in source. */
  shop: pg.Pool;
}

/** The daily pipeline's activities: extract-load, transform (quality and star schema), reconciliation. */
export function createDailyPipelineActivities(deps: DailyPipelineDeps) {
  const pools = new SourcePools(deps.shop);
  const { warehouse } = deps;
  const timezone = deps.config.timezone;
  const extractLoad = createExtractLoadActivities({ warehouse, pools });
  const reconcile = createReconcileActivities({ warehouse, pools, timezone });
  return {
    /** The names of the sources a run takes. */
    async listPipelineSources(): Promise<string[]> {
      return (await listSources(warehouse)).map((s) => s.name);
    },
    ...extractLoad,
    ...createTransformActivities({ warehouse, timezone }),
    ...reconcile,
    // MySQL and file sources (cartflow import) take their own way through extract-load and reconciliation.
    ...routeSourceKinds({ ...extractLoad, ...reconcile }, { warehouse, timezone }),
  };
}
