import type pg from 'pg';
import type { Config } from '../lib/config';
import { createExtractLoadActivities } from '../extract/extract-load';
import { stagedCopyCheck } from '../extract/source-kinds';
import { findSource, listSources, SourcePools } from '../sources/registry';
import { quarantineWarning } from '../transform/quarantine-share';
import { createReconcileActivities } from '../transform/reconcile';
import { createTransformActivities } from '../transform/transform';

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
  // MySQL and file sources (cartflow import) are reconciled against their staged tables, MySQL's
  // checked against the source first.
  const reconcile = createReconcileActivities({
    warehouse,
    pools,
    timezone,
    checkStagedCopy: stagedCopyCheck({ warehouse, extract: extractLoad }),
  });
  return {
    /** The names of the sources a run takes. */
    async listPipelineSources(): Promise<string[]> {
      return (await listSources(warehouse)).map((s) => s.name);
    },
    ...extractLoad,
    ...createTransformActivities({ warehouse, timezone }),
    ...reconcile,
    /** Reconciliation of any kind of source, with a warning when a material share of it is quarantined. */
    async reconcileSource(input: { source: string; runId: string }) {
      const summary = await reconcile.reconcileSource(input);
      const threshold =
        (await findSource(warehouse, input.source)).quarantineThreshold ?? deps.config.quarantineThreshold;
      const warning = quarantineWarning(summary, threshold);
      return warning === undefined ? summary : { ...summary, quarantineWarning: warning };
    },
  };
}
