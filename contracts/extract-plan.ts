/**
 * The shapes an extract-load passes through workflow history — plans, results, sizes — and the pure
 * arithmetic that splits a table into chunks and batches. No I/O: workflows import these types, and
 * every dialect shares the arithmetic.
 */

/** How big the pieces of a load are; the defaults suit millions of rows, tests use small ones. */
export interface ExtractSizes {
  /** Rows per chunk of a full load: chunks are separate activities, so separate workers can share a table. */
  chunkRows?: number;
  /** Rows per batch: each batch commits with its checkpoint, so a retried load resumes after the last one. */
  batchRows?: number;
}

export const DEFAULT_SIZES: Required<ExtractSizes> = { chunkRows: 1_000_000, batchRows: 250_000 };

/** What one run does with one source table; small, it travels through workflow history. */
export interface TablePlan {
  source: string;
  table: string;
  /** `full`: load every row, in chunks; `incremental`: the rows changed since the checkpoint; `unchanged`: nothing to do. */
  mode: 'full' | 'incremental' | 'unchanged';
  generation: number;
  /** The chunks of a full load still to load. */
  chunks: number[];
  /** Primary-key values per batch within a chunk (integer keys only). */
  step: string | null;
  /** Incremental: the highest cursor value at planning time; rows up to it are taken. */
  upTo: string | null;
  /** Why the plan is what it is, for the run's summary (schema changes, a resumed load). */
  notes: string[];
}

export interface LoadResult {
  source: string;
  table: string;
  /** Rows the load put into staging, counting those an interrupted earlier attempt committed. */
  rows: number;
  /** Rows this attempt loaded. */
  rowsThisAttempt: number;
  batches: number;
  /** The load continued where an earlier, interrupted attempt had committed. */
  resumed: boolean;
}

/** The first key column's row count (an estimate may do), lowest and highest value, as text. */
export interface KeyStats {
  rows: number;
  min: string | null;
  max: string | null;
}

/** One chunk of a full load: `[lo, hi)` on the first key column, open where null; `start`/`end` step the batches. */
export interface ChunkRange {
  lo: string | null;
  hi: string | null;
  start: string | null;
  end: string | null;
}

/** Batch size in key values for an integer key: about `batchRows` rows each. Null: one batch per chunk. */
export function batchStep(
  stats: KeyStats,
  integerKey: boolean,
  sizes: Required<ExtractSizes>,
): string | null {
  if (!integerKey || stats.min === null || stats.max === null) return null;
  const span = BigInt(stats.max) - BigInt(stats.min) + 1n;
  const perRow = Number(span) / Math.max(1, stats.rows);
  return BigInt(Math.max(1, Math.ceil(sizes.batchRows * perRow))).toString();
}

/**
 * Splits a table on its first key column into chunks of about `chunkRows` rows. The first and last
 * chunks are open-ended, so rows outside today's key range are still covered. A key that is not an
 * integer gives one chunk, loaded in one batch.
 */
export function splitIntoChunks(
  stats: KeyStats,
  integerKey: boolean,
  sizes: Required<ExtractSizes>,
): ChunkRange[] {
  const single = [{ lo: null, hi: null, start: null, end: null }];
  if (!integerKey || stats.min === null || stats.max === null) return single;
  const min = BigInt(stats.min);
  const max = BigInt(stats.max);
  const span = max - min + 1n;
  const count = BigInt(Math.min(256, Math.max(1, Math.ceil(stats.rows / sizes.chunkRows))));
  const width = (span + count - 1n) / count;
  const ranges: ChunkRange[] = [];
  for (let i = 0n; i < count; i++) {
    const start = min + i * width;
    if (start > max) break;
    ranges.push({
      lo: i === 0n ? null : start.toString(),
      hi: null,
      start: start.toString(),
      end: (start + width).toString(),
    });
  }
  for (let i = 0; i < ranges.length - 1; i++) ranges[i].hi = ranges[i].end;
  return ranges;
}

/**
 * The key range of a chunk's next batch: `[lower, upper)` with the chunk's own open ends kept open,
 * and where the batch after it starts (null: this batch ends the chunk).
 */
export function nextBatch(
  chunk: ChunkRange & { next_lo: string | null },
  step: string | null,
): { lower: string | null; upper: string | null; next: string | null } {
  if (chunk.start === null || chunk.end === null || step === null)
    return { lower: chunk.lo, upper: chunk.hi, next: null };
  const start = BigInt(chunk.next_lo ?? chunk.start);
  const end = BigInt(chunk.end);
  const stop = start + BigInt(step) < end ? start + BigInt(step) : end;
  return {
    lower: chunk.next_lo === null ? chunk.lo : start.toString(),
    upper: stop >= end ? chunk.hi : stop.toString(),
    next: stop >= end ? null : stop.toString(),
  };
}
