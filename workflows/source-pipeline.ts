import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  proxyActivities,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExtractSizes } from '../contracts/extract-plan';
import type {
  ReconciliationSummary,
  SourceFailure,
  TableLoadSummary,
  TransformSummary,
} from '../contracts/pipeline-summary';
import { ExtractLoadWorkflow } from './extract-load';
import { EXTRACT_LOAD, RECONCILE, TRANSFORM, withSourceRetry, type SourceRetry } from './pipeline-options';

const { transformSource } = proxyActivities<Activities>(TRANSFORM);
const { indexStagedKeys } = proxyActivities<Activities>(EXTRACT_LOAD);

export interface SourcePipelineInput {
  source: string;
  /** The daily run this is part of: transform and quarantine record its run id. */
  runId: string;
  /** Its logical date. */
  date: string;
  sizes?: ExtractSizes;
  loadConcurrency?: number;
  sourceRetry?: SourceRetry;
}

/** What one source's part of a daily run did; also the details of its `SourceFailed` failure. */
export interface SourcePipelineResult {
  source: string;
  loads: TableLoadSummary[];
  transform?: TransformSummary;
  reconciliation?: ReconciliationSummary;
  /** The step that failed; the steps after it did not run. */
  failure?: SourceFailure;
}

/** The message of the failure at the bottom of an activity or child failure, which says what went wrong. */
export function rootMessage(error: unknown): string {
  return rootFailure(error) instanceof Error ? (rootFailure(error) as Error).message : String(error);
}

function rootFailure(error: unknown): unknown {
  let current: unknown = error;
  while ((current instanceof ActivityFailure || current instanceof ChildWorkflowFailure) && current.cause)
    current = current.cause;
  return current;
}

/**
 * One source's part of a daily run: extract-load into its staging schema, then quality and the star
 * schema, then reconciliation against the source. Its workflow id is one per source
 * (`sourcePipelineWorkflowId`), so two dates' runs of a source take turns from extract to
 * reconciliation instead of reloading staged tables under each other's transform. A failed step fails
 * this workflow as a non-retryable `SourceFailed` whose details are what was done, for the run's summary.
 */
export async function SourcePipelineWorkflow(input: SourcePipelineInput): Promise<SourcePipelineResult> {
  const { reconcileSource } = proxyActivities<Activities>(withSourceRetry(RECONCILE, input.sourceRetry));
  const result: SourcePipelineResult = { source: input.source, loads: [] };
  let step: SourceFailure['step'] = 'extract';
  try {
    setCurrentDetails(`${input.source} for ${input.date}: extract-load`);
    // Extract-load is a child workflow: its chunk activities fill its own history, not this one's.
    const extracted = await executeChild(ExtractLoadWorkflow, {
      workflowId: `${workflowInfo().workflowId}-extract-${input.runId}`,
      args: [
        {
          sources: [input.source],
          sizes: input.sizes,
          loadConcurrency: input.loadConcurrency,
          sourceRetry: input.sourceRetry,
        },
      ],
    });
    result.loads = extracted.loads;
    // The mappings join staged tables by their keys: a table a full load left without an index gets one.
    for (const { table, ms } of await indexStagedKeys({ source: input.source }))
      result.loads.find((l) => l.table === table)?.notes.push(`key indexed in ${ms} ms`);

    step = 'transform';
    setCurrentDetails(`${input.source} for ${input.date}: transform`);
    const transformStarted = Date.now();
    const transformed = await transformSource({ source: input.source, runId: input.runId, date: input.date });
    // The activity's own time, when it says; else the time as the run saw it.
    result.transform = {
      ...transformed,
      durationMs: transformed.durationMs ?? Date.now() - transformStarted,
    };

    step = 'reconcile';
    setCurrentDetails(`${input.source} for ${input.date}: reconciliation`);
    const reconcileStarted = Date.now();
    result.reconciliation = {
      ...(await reconcileSource({ source: input.source, runId: input.runId })),
      durationMs: Date.now() - reconcileStarted,
    };
    setCurrentDetails(`${input.source} for ${input.date}: done`);
    return result;
  } catch (error) {
    const bottom = rootFailure(error);
    const type = bottom instanceof ApplicationFailure ? (bottom.type ?? undefined) : undefined;
    // A mismatch carries its numbers: the summary shows them.
    if (type === 'ReconciliationMismatch' && bottom instanceof ApplicationFailure && bottom.details?.[0])
      result.reconciliation = bottom.details[0] as ReconciliationSummary;
    result.failure = { source: input.source, step, error: rootMessage(error), ...(type ? { type } : {}) };
    setCurrentDetails(`${input.source} for ${input.date}: ${step} failed: ${result.failure.error}`);
    throw ApplicationFailure.create({
      type: 'SourceFailed',
      message: `The ${step} of source ${input.source} failed: ${result.failure.error}`,
      nonRetryable: true,
      details: [result],
      cause: error instanceof Error ? error : undefined,
    });
  }
}
