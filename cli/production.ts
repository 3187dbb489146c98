import type { Command } from 'commander';
import { resolveEndpoints } from '../lib/endpoints';
import { migrateDatabase } from '../lib/migrate';
import { ALL_TASK_QUEUES, type TaskQueueName } from '../workers/workers';
import { startApplication, stopOnSignals, type Stopper } from './application';
import type { CliContext } from './context';

/**
 * The commands a production deployment runs, each over services named by the environment:
 * `cartflow migrate`, `cartflow worker [--queue etl]` and `cartflow server`.
 */
export function registerProductionCommands(program: Command, context: CliContext): void {
  const { config, logger } = context;

  program
    .command('migrate')
    .description('bring the warehouse and shop databases up to date')
    .action(async () => {
      const endpoints = resolveEndpoints(config);
      for (const which of ['warehouse', 'shop'] as const) {
        const ran = await migrateDatabase(
          which === 'warehouse' ? endpoints.warehouseUrl : endpoints.shopUrl,
          which,
        );
        process.stdout.write(
          `${which}: ${ran.length === 0 ? 'already current' : `applied ${ran.join(', ')}`}\n`,
        );
      }
    });

  program
    .command('worker')
    .description('run Temporal workers (all task queues unless --queue is given)')
    .option('--queue <name...>', `task queues to serve: ${ALL_TASK_QUEUES.join(', ')}`)
    .action(async (options: { queue?: string[] }) => {
      const queues = (options.queue ?? ALL_TASK_QUEUES) as TaskQueueName[];
      const unknown = queues.filter((queue) => !ALL_TASK_QUEUES.includes(queue));
      if (unknown.length > 0)
        throw new Error(
          `Unknown task queue ${unknown.join(', ')}; choose from ${ALL_TASK_QUEUES.join(', ')}.`,
        );
      await runLongLived(context, { queues, serveHttp: false });
      logger.info('Workers are running', { queues });
    });

  program
    .command('server')
    .description('run the HTTP API and dashboard')
    .action(async () => {
      if (!resolveEndpoints(config).ingestToken) {
        throw new Error('CARTFLOW_INGEST_TOKEN is not set: the events API needs the token storefronts send.');
      }
      await runLongLived(context, { queues: [], serveHttp: true });
      logger.info('The HTTP server is listening', { port: config.httpPort });
    });
}

async function runLongLived(
  context: CliContext,
  options: { queues: readonly TaskQueueName[]; serveHttp: boolean },
): Promise<void> {
  const stoppers: Stopper[] = [];
  stopOnSignals(stoppers, context.logger);
  await startApplication({
    config: context.config,
    endpoints: resolveEndpoints(context.config),
    logger: context.logger,
    stoppers,
    ...options,
  });
}
