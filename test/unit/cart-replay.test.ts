import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Histories of real CartWorkflow runs, recorded from a Temporal server by
 * `npx jest --testMatch '<rootDir>/test/fixtures/record-cart-histories.ts'`. Replaying them against today's workflow code
 * fails on any change that would break carts in flight — such a change needs `patched()` (STYLE.md,
 * "Tests"). One replay worker replays them all: the SDK's native runtime is one per process.
 */
const fixtures = path.resolve(__dirname, '../fixtures');

function savedHistories(): { workflowId: string; history: temporal.api.history.v1.IHistory }[] {
  return fs
    .readdirSync(fixtures)
    .filter((name) => /^cart-.*\.history\.json$/.test(name))
    .map((name) => ({
      workflowId: name.replace('.history.json', ''),
      history: temporal.api.history.v1.History.fromObject(
        JSON.parse(fs.readFileSync(path.join(fixtures, name), 'utf8')),
      ),
    }));
}

describe('CartWorkflow replays the saved histories of carts', () => {
  it('replays every saved history without a nondeterminism error', async () => {
    const histories = savedHistories();
    // Before the local-activities patch, and after it.
    expect(histories.map((h) => h.workflowId).sort()).toEqual([
      'cart-bought',
      'cart-local-activities-bought',
      'cart-local-activities-recovered',
      'cart-recovered',
    ]);
    expect(histories.every((h) => (h.history.events?.length ?? 0) > 10)).toBe(true);
    const results = [];
    for await (const result of Worker.runReplayHistories(
      { workflowsPath: require.resolve('../../workflows') },
      histories,
    )) {
      results.push(result);
    }
    expect(results.map((r) => ({ id: r.workflowId, error: r.error?.message }))).toEqual(
      histories.map((h) => ({ id: h.workflowId, error: undefined })),
    );
  });
});
