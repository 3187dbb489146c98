/**
 * What a cart outside the carts worker's cache costs the worker on its next task: a replay of its whole
 * history. `npx tsx bench/cart-replay.ts [--replays 300]` replays the recorded histories of
 * test/fixtures (a cart bought before it expired; one abandoned, e-mailed and then bought) through the
 * cart bundle, as many times each in one replay worker, and prints the worker's CPU milliseconds per
 * replay (the bundling and 20 warm-up replays not counted). The Temporal server's part of a cache miss
 * (the task goes to the shared queue with the whole history) is not in it. Run it under the heavy
 * lock: it is a timing figure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

const fixtures = path.resolve(__dirname, '../test/fixtures');

function parseReplays(argv: string[]): number {
  if (argv.length === 0) return 300;
  if (argv.length !== 2 || argv[0] !== '--replays' || !/^\d+$/.test(argv[1]) || Number(argv[1]) < 1)
    throw new Error('Usage: npx tsx bench/cart-replay.ts [--replays N] (N a whole number, at least 1)');
  return Number(argv[1]);
}

async function main(): Promise<void> {
  const replays = parseReplays(process.argv.slice(2));
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`bench cart-replay — ${replays} replays of each history; load average ${os.loadavg()[0].toFixed(1)}`);
  const names = ['cart-local-activities-bought', 'cart-local-activities-recovered'];
  const loaded = names.map((name) =>
    temporal.api.history.v1.History.fromObject(
      JSON.parse(fs.readFileSync(path.join(fixtures, `${name}.history.json`), 'utf8')),
    ),
  );
  const WARM = 20;
  // One replay worker for all (the SDK bundles the workflow code once): warm-up replays, then each
  // history `replays` times; the CPU is read as the results come.
  const histories = [
    ...Array.from({ length: WARM }, (_, i) => ({ workflowId: `warm-${i}`, history: loaded[0] })),
    ...loaded.flatMap((history, h) =>
      Array.from({ length: replays }, (_, i) => ({ workflowId: `${names[h]}-${i}`, history })),
    ),
  ];
  const marks: NodeJS.CpuUsage[] = [];
  let done = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowsPath: require.resolve('../workflows/cart-index') },
    histories,
  )) {
    if (result.error) throw new Error(`Replaying ${result.workflowId} failed: ${result.error.message}`);
    done++;
    if (done === WARM || done === WARM + replays || done === WARM + 2 * replays)
      marks.push(process.cpuUsage());
  }
  const ms = (from: NodeJS.CpuUsage, to: NodeJS.CpuUsage) =>
    (to.user - from.user + to.system - from.system) / 1000 / replays;
  names.forEach((name, h) =>
    log(
      `  ${name}: ${loaded[h].events?.length ?? 0} events, ${ms(marks[h], marks[h + 1]).toFixed(2)} ms of worker CPU per replay`,
    ),
  );
  log(`  load average now ${os.loadavg()[0].toFixed(1)}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench cart-replay failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
