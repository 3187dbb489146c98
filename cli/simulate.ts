import { Presets, SingleBar } from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import type pg from 'pg';
import {
  DEFAULT_END_DATE,
  DIRT_RATES,
  parseIsoDate,
  simulateShop,
  type DirtKind,
  type SimulateOptions,
  type SimulateSummary,
} from '../simulator';

export interface SimulateCommandContext {
  /** Connects to the configured shop database; starts nothing. The caller owns (and ends) the pool. */
  loadShopPool: () => Promise<pg.Pool>;
}

/** Upper bounds that keep a typo from filling the disk: a million customers is ~40 million events a year. */
const MAX_CUSTOMERS = 1_000_000;
const MAX_DAYS = 3650;
const MAX_SEED = 2 ** 32 - 1;

/** A commander parser for a whole number in [min, max]; rejects "12abc", "1e3" and "-0" that parseInt would let by. */
function wholeNumber(option: string, min: number, max: number) {
  return (text: string): number => {
    const value = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`${option} must be a whole number from ${min} to ${max}.`);
    }
    return value;
  };
}

function isoDate(text: string): string {
  try {
    parseIsoDate(text);
    return text;
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

interface CommandOptions {
  customers: number;
  days: number;
  seed: number;
  endDate: string;
  reset?: boolean;
}

/**
 * `cartflow simulate`: fills the demo storefront's database with a realistic history that the seed
 * alone decides, for demos, tests and benchmarks of the pipeline.
 */
export function registerSimulateCommand(program: Command, context: SimulateCommandContext): void {
  program
    .command('simulate')
    .description('fill the demo shop database with a realistic, deterministic history (same seed, same shop)')
    .option(
      '--customers <n>',
      'customers in the shop (products: a tenth of that, at least 50)',
      wholeNumber('--customers', 1, MAX_CUSTOMERS),
      10_000,
    )
    .option('--days <n>', 'days of history, ending with --end-date', wholeNumber('--days', 1, MAX_DAYS), 365)
    .option('--seed <n>', 'the seed of the random history', wholeNumber('--seed', 0, MAX_SEED), 1)
    .option(
      '--end-date <YYYY-MM-DD>',
      'the last simulated day (fixed by default, so the seed alone decides the history)',
      isoDate,
      DEFAULT_END_DATE,
    )
    .option(
      '--reset',
      'empty the shop tables first (their rows are lost) instead of refusing a shop that holds data',
    )
    .action(async (options: CommandOptions) => {
      const shop = await context.loadShopPool();
      const summary = await withProgressBar((onProgress) => simulateShop(shop, { ...options, onProgress }));
      process.stdout.write(formatSummary(summary, options));
    });
}

/** Runs the work with a progress bar on stderr when a person is watching it; plain otherwise (CI, pipes). */
async function withProgressBar<T>(
  work: (onProgress: SimulateOptions['onProgress']) => Promise<T>,
): Promise<T> {
  if (!process.stderr.isTTY) return work(undefined);
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: 'simulating [{bar}] {percentage}% | {eta_formatted} left',
      etaBuffer: 200,
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  let started = false;
  try {
    return await work((done, total) => {
      if (!started) bar.start(total, done);
      started = true;
      bar.update(done);
    });
  } finally {
    bar.stop();
  }
}

/** The summary as a person reads it: rows per table, the planted dirt, and the time it took. */
export function formatSummary(summary: SimulateSummary, options: CommandOptions): string {
  const tables: [string, number][] = [
    ['customers', summary.customers],
    ['products', summary.products],
    ['orders', summary.orders],
    ['order_lines', summary.orderLines],
    ['payments', summary.payments],
    ['site_events', summary.siteEvents],
  ];
  const rows = tables.reduce((sum, [, count]) => sum + count, 0);
  const width = Math.max(...tables.map(([, count]) => String(count).length));
  const lines = [
    `Simulated ${options.customers} customers over ${options.days} days ending ${options.endDate}, seed ${options.seed}:`,
    ...tables.map(([table, count]) => `  ${table.padEnd(12)} ${String(count).padStart(width)}`),
    `  ${rows} rows in ${summary.seconds.toFixed(1)} s (${Math.round(rows / summary.seconds)} rows/s)`,
    'Dirt planted on purpose for the quality rules (rows; documented rate):',
    ...Object.entries(summary.dirt).map(
      ([kind, count]) =>
        `  ${kind.padEnd(27)} ${String(count).padStart(6)}   ${(DIRT_RATES[kind as DirtKind] * 100).toFixed(1)} %`,
    ),
  ];
  return lines.join('\n') + '\n';
}
