import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExtractSizes, LoadResult, TablePlan } from '../contracts/extract-plan';
import type { TableLoadSummary } from '../contracts/pipeline-summary';
import { BOOKKEEPING, EXTRACT_LOAD, runBounded, withSourceRetry, type SourceRetry } from './pipeline-options';

export interface ExtractLoadInput {
  /** The sources to take; all of them when absent. */
  sources?: string[];
  /** Chunk and batch sizes; tests make them small. */
  sizes?: ExtractSizes;
  /** How many loads run at once across all tables (default 4): chunks of one table spread over workers. */
  loadConcurrency?: number;
  sourceRetry?: SourceRetry;
}

export interface ExtractLoadResult {
  sources: string[];
  loads: TableLoadSummary[];
}

const { listPipelineSources } = proxyActivities<Activities>(BOOKKEEPING);

/**
 * Extract-load of every table of the sources into staging: plans each table (full in chunks,
 * incremental, or unchanged), then runs the chunk and incremental loads, a bounded number at a time,
 * as activities any worker may take. Only plans, counts and checkpoints pass through here.
 */
export async function ExtractLoadWorkflow(input: ExtractLoadInput = {}): Promise<ExtractLoadResult> {
  const { planExtract, loadChunk, loadIncremental } = proxyActivities<Activities>(
    withSourceRetry(EXTRACT_LOAD, input.sourceRetry),
  );
  const sources = input.sources ?? (await listPipelineSources());
  const plans: TablePlan[] = (
    await Promise.all(sources.map((source) => planExtract({ source, sizes: input.sizes })))
  ).flat();
  const tasks: (() => Promise<LoadResult>)[] = [];
  // Per table, when its first piece started and its last one ended: the table's extract time.
  const spans = plans.map(() => ({ first: Infinity, last: -Infinity }));
  const timed = (index: number, load: () => Promise<LoadResult>) => async () => {
    spans[index].first = Math.min(spans[index].first, Date.now());
    const result = await load();
    spans[index].last = Math.max(spans[index].last, Date.now());
    return result;
  };
  for (const [index, plan] of plans.entries()) {
    if (plan.mode === 'full')
      for (const chunkNo of plan.chunks)
        tasks.push(
          timed(index, () =>
            loadChunk({
              source: plan.source,
              table: plan.table,
              generation: plan.generation,
              chunkNo,
              step: plan.step,
            }),
          ),
        );
    else if (plan.mode === 'incremental' && plan.upTo !== null) {
      const upTo = plan.upTo;
      tasks.push(
        timed(index, () =>
          loadIncremental({
            source: plan.source,
            table: plan.table,
            upTo,
            batchRows: input.sizes?.batchRows,
          }),
        ),
      );
    }
  }
  const pieces = plans.map((p) => (p.mode === 'full' ? p.chunks.length : p.mode === 'incremental' ? 1 : 0));
  setCurrentDetails(
    `Loading ${tasks.length} piece(s): ` +
      plans
        .map((p, i) => `${p.source}.${p.table} ${p.mode}${pieces[i] > 1 ? ` in ${pieces[i]} chunks` : ''}`)
        .join(', '),
  );
  const loads = await runBounded(tasks, input.loadConcurrency ?? 4);
  return {
    sources,
    loads: plans.map((plan, index) => {
      const mine = loads.filter((l) => l.source === plan.source && l.table === plan.table);
      return {
        source: plan.source,
        table: plan.table,
        mode: plan.mode,
        rows: mine.reduce((sum, l) => sum + l.rows, 0),
        pieces: plan.mode === 'full' ? mine.length : mine.reduce((sum, l) => sum + l.batches, 0),
        ...(spans[index].last >= spans[index].first
          ? { durationMs: spans[index].last - spans[index].first }
          : {}),
        notes: [
          ...plan.notes,
          ...(mine.some((l) => l.resumed) ? ['resumed after an interrupted attempt'] : []),
        ],
      };
    }),
  };
}
