import { Command } from 'commander';
import { ConfigError, loadConfig } from '../lib/config';
import { createLogger } from '../lib/log';
import { registerBackfillCommand } from './backfill';
import { createCliContext } from './context';
import { runDev } from './dev';
import { registerImportCommand } from './import';
import { registerModelCommands } from './models';
import { registerProductionCommands } from './production';
import { registerRunCommand } from './run';
import { registerSimulateCommand } from './simulate';
import { registerLiveSimulationCommand } from './simulate-live';
import { registerSourceCommand } from './source';
import { runStatus } from './status';

/** Commands that keep running after their action returns; their resources stay open. */
const LONG_LIVED_COMMANDS = ['dev', 'worker', 'server'];

async function main(argv: string[]): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, { service: 'cartflow' });
  const program = new Command('cartflow')
    .description('cartflow: an online shop data platform on Temporal and Postgres')
    .showHelpAfterError();

  program
    .command('dev')
    .description('start the whole platform on its embedded default (what npm start runs)')
    .action(async () => runDev(config, logger));

  program
    .command('status')
    .description('show what runs and where, and its health')
    .action(async () => {
      process.exitCode = await runStatus(config);
    });

  // Commands owned by features register here, each from its own file, sharing one lazily opened context.
  const context = createCliContext(config, logger);
  registerProductionCommands(program, context);
  registerRunCommand(program, context);
  registerBackfillCommand(program, context);
  registerSourceCommand(program, context);
  registerModelCommands(program, context);
  registerSimulateCommand(program, { loadShopPool: async () => context.shop() });
  registerLiveSimulationCommand(program, context);
  registerImportCommand(program, {
    loadWarehousePool: async () => context.warehouse(),
    timezone: config.timezone,
  });
  try {
    await program.parseAsync(argv);
  } finally {
    if (!LONG_LIVED_COMMANDS.includes(program.args[0])) await context.close();
  }
}

main(process.argv).catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`cartflow: ${message}\n`);
  process.exit(1);
});
