import { Presets, SingleBar } from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { TASK_QUEUES } from '../contracts/names';
import type { CliContext } from './context';
import { calendarDate, runDailyFor, type DailyOutcome } from './run';

const MAX_DAYS = 3660;

/** Every date from `from` to `to`, inclusive. */
export function datesBetween(from: string, to: string): string[] {
  const dates: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000)
    dates.push(new Date(t).toISOString().slice(0, 10));
  return dates;
}

/**
 * Runs the daily pipeline for every date from `from` to `to`, at most `parallel` at a time, oldest
 * first; a failed date does not stop the others. Dates run side by side, but each source's extract,
 * transform and reconciliation take turns between dates (docs/pipeline.md, "Parallel dates").
 */
export async function backfill(
  context: CliContext,
  options: { from: string; to: string; parallel: number; taskQueue?: string; models?: boolean },
  onDone?: (outcome: DailyOutcome, done: number, total: number) => void,
): Promise<DailyOutcome[]> {
  const dates = datesBetween(options.from, options.to);
  const client = await context.temporal();
  const outcomes: DailyOutcome[] = [];
  let next = 0;
  const lane = async () => {
    while (next < dates.length) {
      const date = dates[next++];
      const outcome = await runDailyFor(
        context,
        client,
        date,
        undefined,
        options.taskQueue ?? TASK_QUEUES.etl,
        undefined,
        options.models === false ? false : undefined,
      );
      outcomes.push(outcome);
      onDone?.(outcome, outcomes.length, dates.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.parallel, dates.length) }, lane));
  return outcomes.sort((a, b) => a.date.localeCompare(b.date));
}

function positive(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= 32))
    throw new InvalidArgumentError('--parallel must be a whole number from 1 to 32.');
  return value;
}

/** `cartflow backfill --from A --to B [--parallel N]`: the daily pipeline for a range of dates, with a progress bar. */
export function registerBackfillCommand(program: Command, context: CliContext): void {
  program
    .command('backfill')
    .description('run the daily pipeline for every date in a range, a few at a time')
    .requiredOption('--from <YYYY-MM-DD>', 'the first logical date', calendarDate)
    .requiredOption('--to <YYYY-MM-DD>', 'the last logical date (inclusive)', calendarDate)
    .option('--parallel <n>', 'dates run at once (default 2)', positive, 2)
    .option('--no-models', "leave the models out of every date (fit them afterwards with one date's run)")
    .action(async (options: { from: string; to: string; parallel: number; models: boolean }) => {
      if (options.to < options.from) throw new InvalidArgumentError('--to must not be before --from.');
      const total = datesBetween(options.from, options.to).length;
      if (total > MAX_DAYS) throw new InvalidArgumentError(`At most ${MAX_DAYS} days at once, not ${total}.`);
      const bar = new SingleBar(
        {
          format: 'backfill |{bar}| {value}/{total} days | {failed} failed | last: {last}',
          hideCursor: true,
          clearOnComplete: false,
        },
        Presets.shades_classic,
      );
      let failed = 0;
      bar.start(total, 0, { failed, last: '-' });
      const outcomes = await backfill(context, options, (outcome, done) => {
        if (outcome.status === 'failed') failed++;
        bar.update(done, { failed, last: `${outcome.date} ${outcome.status}` });
      });
      bar.stop();
      const lines = outcomes.map((o) => {
        const rows = o.summary?.loads.reduce((sum, l) => sum + l.rows, 0) ?? 0;
        const quarantined = Object.values(o.summary?.quarantinedByRule ?? {}).reduce((a, b) => a + b, 0);
        const seconds =
          o.summary?.durationMs !== undefined ? `${(o.summary.durationMs / 1000).toFixed(1)} s` : '';
        const status = o.summary?.status === 'partial' ? 'partial' : o.status;
        return `  ${o.date}  ${status.padEnd(9)} ${String(rows).padStart(9)} rows loaded  ${String(quarantined).padStart(7)} quarantined  ${seconds}${o.status === 'failed' ? `\n      ${o.error}` : ''}`;
      });
      process.stdout.write(`\n${lines.join('\n')}\n\n${total - failed} of ${total} days succeeded.\n`);
      if (failed > 0) process.exitCode = 1;
    });
}
