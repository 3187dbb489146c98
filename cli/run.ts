import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
} from '@temporalio/client';
import { InvalidArgumentError, type Command } from 'commander';
import { lastImportedDate } from '../imports/last-date';
import { dailyPipelineWorkflowId, TASK_QUEUES } from '../contracts/names';
import { formatSummary, type PipelineSummary } from '../contracts/pipeline-summary';
import { DailyPipelineWorkflow } from '../workflows/daily-pipeline';
import type { CliContext } from './context';

/** A YYYY-MM-DD that is a real calendar day. */
export function calendarDate(text: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const date = match
    ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])))
    : undefined;
  if (!date || date.toISOString().slice(0, 10) !== text)
    throw new InvalidArgumentError(`"${text}" is not a date of the form YYYY-MM-DD.`);
  return text;
}

/** Today in the shop's time zone. */
export function today(timezone: string, now = new Date()): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now);
}

export type DailyOutcome =
  | { date: string; status: 'succeeded'; summary: PipelineSummary; workflowId: string }
  | {
      date: string;
      status: 'failed';
      error: string;
      summary: PipelineSummary | undefined;
      workflowId: string;
    };

/**
 * What went wrong: the message at the bottom of a failure chain, or, when sources failed while the
 * others went on, the run's own message naming each failed source and step.
 */
function rootMessage(error: unknown): string {
  const cause = error instanceof WorkflowFailedError ? error.cause : undefined;
  if (cause instanceof ApplicationFailure && cause.type === 'SourcesFailed') return cause.message;
  let current = error as { cause?: unknown; message?: string } | undefined;
  while (current?.cause) current = current.cause as typeof current;
  return current?.message ?? String(error);
}

/**
 * Runs the daily pipeline for one date and waits for it: workflow id `daily-<date>`, so a date that is
 * already running is joined rather than started twice. Never throws for a failed run; says why.
 */
export async function runDailyFor(
  context: CliContext,
  client: Client,
  date: string,
  onStarted?: (workflowId: string, runId: string, joined: boolean) => void,
  taskQueue: string = TASK_QUEUES.etl,
  sources?: string[],
  models?: false,
): Promise<DailyOutcome> {
  const workflowId = dailyPipelineWorkflowId(date);
  let runId: string;
  let joined = false;
  try {
    const handle = await client.workflow.start(DailyPipelineWorkflow, {
      workflowId,
      taskQueue,
      args: [
        {
          date,
          timezone: context.config.timezone,
          ...(sources?.length ? { sources } : {}),
          ...(models === false ? { models } : {}),
        },
      ],
      staticSummary: `Daily pipeline for ${date} (cartflow CLI)`,
    });
    runId = handle.firstExecutionRunId;
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    runId = (await client.workflow.getHandle(workflowId).describe()).runId;
    joined = true;
  }
  onStarted?.(workflowId, runId, joined);
  try {
    const result = await client.workflow.getHandle(workflowId, runId).result();
    return { date, status: 'succeeded', summary: result.summary, workflowId };
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) throw error;
    const { rows } = await context
      .warehouse()
      .query<{ summary: PipelineSummary }>(`select summary from ops.pipeline_runs where run_id = $1`, [runId])
      .catch(() => ({ rows: [] as { summary: PipelineSummary }[] }));
    return { date, status: 'failed', error: rootMessage(error), summary: rows[0]?.summary, workflowId };
  }
}

/**
 * The exit status of `cartflow run daily` for a run's outcome: 1 when it failed; 3 when it succeeded
 * but a source's quarantined lines or revenue are above the threshold (docs/pipeline.md,
 * "Reconciliation"); 0 otherwise.
 */
export function dailyExitStatus(outcome: DailyOutcome): number {
  if (outcome.status === 'failed') return 1;
  return outcome.summary.reconciliations.some((r) => r.quarantineWarning !== undefined) ? 3 : 0;
}

/** Markdown bold and list marks read fine in a terminal too; only the bold goes. */
export const plain = (markdown: string) => markdown.replace(/\*\*/g, '');

/** `cartflow run daily [--date D]`: runs one day of the pipeline now and prints its summary. */
export function registerRunCommand(program: Command, context: CliContext): void {
  const run = program.command('run').description('run a pipeline now, outside its schedule');
  run
    .command('daily')
    .description('run the daily pipeline for one logical date and print its summary')
    .option('--date <YYYY-MM-DD>', 'the logical date (default: today in CARTFLOW_TIMEZONE)', calendarDate)
    .option(
      '--as-of [YYYY-MM-DD]',
      'build as of this date; without one, the last day in the imported files (docs/imports.md)',
      calendarDate,
    )
    .option(
      '--source <name>',
      'run only this source (repeat for several; `cartflow source list` names them)',
      (name: string, names: string[]) => [...names, name],
      [] as string[],
    )
    .option('--no-models', 'leave the models out: only the star schema and its reconciliation')
    .action(async (options: { date?: string; asOf?: string | true; source: string[]; models: boolean }) => {
      if (options.date && options.asOf) throw new InvalidArgumentError('Give --date or --as-of, not both.');
      let asOf = options.asOf;
      if (asOf === true) {
        asOf = await lastImportedDate(context.warehouse());
        if (!asOf) throw new InvalidArgumentError('--as-of: no file has been imported yet; give a date.');
      }
      const date = options.date ?? asOf ?? today(context.config.timezone);
      const client = await context.temporal();
      const ui = context.endpoints().temporalUiUrl;
      const outcome = await runDailyFor(
        context,
        client,
        date,
        (workflowId, runId, joined) => {
          process.stdout.write(
            `${joined ? 'Joined the run already under way' : 'Started'} ${workflowId} (run ${runId})` +
              (ui
                ? `\n  ${ui}/namespaces/${context.config.temporal.namespace}/workflows/${workflowId}/${runId}`
                : '') +
              '\n',
          );
        },
        TASK_QUEUES.etl,
        options.source,
        options.models ? undefined : false,
      );
      if (outcome.summary) process.stdout.write('\n' + plain(formatSummary(outcome.summary)) + '\n');
      if (outcome.status === 'failed') {
        process.stdout.write(
          outcome.summary?.status === 'partial'
            ? `\nThe run is partial: ${outcome.error}\nRe-run a failed source alone with --source NAME once it is fixed.\n`
            : `\nThe run failed: ${outcome.error}\n`,
        );
        process.exitCode = 1;
      }
      if (dailyExitStatus(outcome) === 3) {
        const warned = outcome.summary?.reconciliations.filter((r) => r.quarantineWarning) ?? [];
        process.stdout.write(
          `\nQuarantined above the threshold: ${warned.map((r) => r.source).join(', ')} (exit status 3)\n`,
        );
        process.exitCode ||= 3;
      }
      const failedModels = outcome.summary?.models?.filter((m) => m.status === 'failed') ?? [];
      if (failedModels.length > 0) {
        process.stdout.write(
          `\nModels failed: ${failedModels.map((m) => m.model).join(', ')} (their marts keep the last good fit)\n`,
        );
        process.exitCode ||= 2;
      }
    });
}
