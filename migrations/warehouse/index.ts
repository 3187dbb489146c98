import type { MigrationModule } from '../../lib/migrate';
import * as schemas from './20261123_001_schemas';
import * as pipelineOps from './20261123_101_pipeline_ops';
import * as canonicalStaging from './20261123_102_canonical_staging';
import * as starSchema from './20261123_103_star_schema';
import * as canonicalUnindexed from './20261123_104_canonical_unindexed';
import * as factsUnconstrained from './20261123_105_facts_unconstrained';
import * as extractFreshLoads from './20261123_106_extract_fresh_loads';
import * as rawEvents from './20261123_201_raw_events';
import * as cartRetargeting from './20261123_202_cart_retargeting';
import * as rawEventIdsBySession from './20261123_203_raw_event_ids_by_session';
import * as partitionRace from './20261123_204_partition_race';
import * as imports from './20261123_301_imports';
import * as partialPipelineRuns from './20261201_110_partial_pipeline_runs';
import * as ordersPaymentsRepeats from './20261201_120_orders_payments_repeats';
import * as factOrderPaid from './20261201_121_fact_order_paid';
import * as incrementalRuns from './20261201_130_incremental_runs';
import * as inputIsValid from './20261201_150_input_is_valid';
import * as factsRoomToUpdate from './20261201_160_facts_room_to_update';
import * as models from './20261201_401_models';
import * as recommendations from './20261201_410_recommendations';
import * as forecasts from './20261201_420_forecasts';
import * as stockOutlook from './20261201_421_stock_outlook';
import * as live from './20261201_600_live';

/** The warehouse's migrations, oldest first. Never edit a landed one; add a new one. */
export const warehouseMigrations: Record<string, MigrationModule> = {
  '20261123_001_schemas': schemas,
  '20261123_101_pipeline_ops': pipelineOps,
  '20261123_102_canonical_staging': canonicalStaging,
  '20261123_103_star_schema': starSchema,
  '20261123_104_canonical_unindexed': canonicalUnindexed,
  '20261123_105_facts_unconstrained': factsUnconstrained,
  '20261123_106_extract_fresh_loads': extractFreshLoads,
  '20261123_201_raw_events': rawEvents,
  '20261123_202_cart_retargeting': cartRetargeting,
  '20261123_203_raw_event_ids_by_session': rawEventIdsBySession,
  '20261123_204_partition_race': partitionRace,
  '20261123_301_imports': imports,
  '20261201_110_partial_pipeline_runs': partialPipelineRuns,
  '20261201_120_orders_payments_repeats': ordersPaymentsRepeats,
  '20261201_121_fact_order_paid': factOrderPaid,
  '20261201_130_incremental_runs': incrementalRuns,
  '20261201_150_input_is_valid': inputIsValid,
  '20261201_160_facts_room_to_update': factsRoomToUpdate,
  '20261201_401_models': models,
  '20261201_410_recommendations': recommendations,
  '20261201_420_forecasts': forecasts,
  '20261201_421_stock_outlook': stockOutlook,
  '20261201_600_live': live,
};
