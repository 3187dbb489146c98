import { batchStep, nextBatch, splitIntoChunks, type ChunkRange } from '../../contracts/extract-plan';

const sizes = { chunkRows: 1_000, batchRows: 400 };

/** Every key a chunk's batches cover, walking them as loadChunk does. */
function walk(chunk: ChunkRange, step: string | null): { lower: string | null; upper: string | null }[] {
  const batches = [];
  let next_lo: string | null = null;
  for (;;) {
    const batch = nextBatch({ ...chunk, next_lo }, step);
    batches.push({ lower: batch.lower, upper: batch.upper });
    if (batch.next === null) return batches;
    next_lo = batch.next;
  }
}

describe('the split of a full load into chunks and batches, for every dialect', () => {
  it('covers every integer key exactly once, the first and last chunks open-ended', () => {
    const stats = { rows: 3_000, min: '1', max: '3000' };
    const chunks = splitIntoChunks(stats, true, sizes);
    expect(chunks).toEqual([
      { lo: null, hi: '1001', start: '1', end: '1001' },
      { lo: '1001', hi: '2001', start: '1001', end: '2001' },
      { lo: '2001', hi: null, start: '2001', end: '3001' },
    ]);
    const step = batchStep(stats, true, sizes);
    expect(step).toBe('400');
    // Each chunk's batches: [lo, +400), … up to its end, keeping the chunk's own open ends open.
    expect(walk(chunks[0], step)).toEqual([
      { lower: null, upper: '401' },
      { lower: '401', upper: '801' },
      { lower: '801', upper: '1001' },
    ]);
    expect(walk(chunks[2], step).at(-1)).toEqual({ lower: '2801', upper: null });
    // Every key from 1 to 3000 (and any outside) falls in exactly one batch.
    const batches = chunks.flatMap((c) => walk(c, step));
    for (const key of [-5, 1, 400, 401, 1000, 1001, 2999, 3000, 9999]) {
      const holding = batches.filter(
        (b) => (b.lower === null || key >= Number(b.lower)) && (b.upper === null || key < Number(b.upper)),
      );
      expect(holding).toHaveLength(1);
    }
  });

  it('gives a sparse key batches of about batchRows rows, and caps the chunks at 256', () => {
    // 1,000 rows spread over keys 1..1,000,000: a batch of 400 rows spans 400,000 key values.
    expect(batchStep({ rows: 1_000, min: '1', max: '1000000' }, true, sizes)).toBe('400000');
    expect(splitIntoChunks({ rows: 10_000_000, min: '1', max: '10000000' }, true, sizes)).toHaveLength(256);
  });

  it('loads a table whose key is not an integer, or that is empty, as one chunk in one batch', () => {
    const one = [{ lo: null, hi: null, start: null, end: null }];
    expect(splitIntoChunks({ rows: 3_000, min: 'A001', max: 'Z999' }, false, sizes)).toEqual(one);
    expect(splitIntoChunks({ rows: 0, min: null, max: null }, true, sizes)).toEqual(one);
    expect(batchStep({ rows: 3_000, min: 'A001', max: 'Z999' }, false, sizes)).toBeNull();
    expect(walk(one[0], null)).toEqual([{ lower: null, upper: null }]);
  });
});
