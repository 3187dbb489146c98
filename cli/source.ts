import path from 'node:path';
import fs from 'node:fs';
import readline from 'node:readline';
import { InvalidArgumentError, type Command } from 'commander';
import { checkMysqlSource, MysqlPools, type MysqlSource } from '../extract/mysql';
import { checkSourceAgainstDatabase } from '../extract/check';
import {
  describeConnection,
  validateSourceDefinition,
  type DuplicateLines,
  type SourceDefinition,
} from '../sources/definition';
import {
  countSourceData,
  listSources,
  purgeSource,
  removeSource,
  resetSourceTables,
  saveSource,
  SourcePools,
  sourceDataKind,
  type SourceData,
} from '../sources/registry';
import type { CliContext } from './context';
import { duplicateLines } from './import';

/** Reads a source definition from a .json file, or from a .ts/.js module's default (or `source`) export. */
export async function readSourceFile(file: string): Promise<unknown> {
  const absolute = path.resolve(file);
  if (!fs.existsSync(absolute)) throw new InvalidArgumentError(`No file ${absolute}.`);
  if (absolute.endsWith('.json')) return JSON.parse(fs.readFileSync(absolute, 'utf8'));
  // A user's definition module, compiled at run time like the rest of the CLI (tsx; swc under jest).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(absolute) as { default?: unknown; source?: unknown };
  return loaded.source ?? loaded.default ?? loaded;
}

/** Validates, checks against the source database, and registers (or replaces) a source. */
export async function addSource(
  context: CliContext,
  raw: unknown,
  options: { url?: string; duplicates?: DuplicateLines } = {},
): Promise<{ source: SourceDefinition; replaced: boolean }> {
  let definition = validateSourceDefinition(raw);
  if (options.url) {
    definition = validateSourceDefinition({
      ...definition,
      connection: {
        kind: /^mysql:/.test(options.url) ? 'mysql' : 'postgres',
        url: options.url,
        schema: definition.connection.schema,
      },
    });
  }
  if (options.duplicates)
    definition = validateSourceDefinition({ ...definition, duplicates: options.duplicates });
  if (definition.connection.kind === 'files')
    throw new Error(
      `Source ${definition.name} is a files source: cartflow import registers those (docs/imports.md).`,
    );
  if (definition.connection.kind === 'mysql') {
    // MySQL: its tables and columns are checked there; the mapping (Postgres SQL over the staged copies) by the first run.
    const mysqlPools = new MysqlPools();
    try {
      const problems = await checkMysqlSource(definition as MysqlSource, mysqlPools);
      if (problems.length > 0)
        throw new Error(
          `Source ${definition.name} does not fit its database:\n  - ${problems.join('\n  - ')}`,
        );
    } finally {
      await mysqlPools.close();
    }
    const replaced = await saveSource(context.warehouse(), definition);
    await dropUnlistedStagedTables(context, definition);
    return { source: definition, replaced };
  }
  const pools = new SourcePools(context.shop());
  try {
    const problems = await checkSourceAgainstDatabase(definition, pools.get(definition), context.warehouse());
    if (problems.length > 0)
      throw new Error(`Source ${definition.name} does not fit its database:\n  - ${problems.join('\n  - ')}`);
  } finally {
    await pools.close();
  }
  const replaced = await saveSource(context.warehouse(), definition);
  await dropUnlistedStagedTables(context, definition);
  return { source: definition, replaced };
}

/**
 * Drops the staged copies (and checkpoints) of tables a replaced definition no longer lists: no
 * mapping may read them, and a later definition listing one again loads it afresh.
 */
async function dropUnlistedStagedTables(context: CliContext, definition: SourceDefinition): Promise<void> {
  const { rows } = await context
    .warehouse()
    .query<{ table_name: string }>(
      `select table_name from ops.extract_state where source = $1 and not (table_name = any($2::text[]))`,
      [definition.name, definition.tables.map((t) => t.name)],
    );
  for (const { table_name } of rows)
    await resetSourceTables(context.warehouse(), definition.name, table_name);
}

/** `cartflow source add|list|remove|purge|reset`: the databases the daily pipeline takes, and how they map. */
export function registerSourceCommand(program: Command, context: CliContext): void {
  const source = program
    .command('source')
    .description('the databases the daily pipeline extracts, and their mappings');

  source
    .command('list')
    .description('list the sources: the built-in demo shop and those registered')
    .action(async () => {
      const sources = await listSources(context.warehouse());
      for (const s of sources)
        process.stdout.write(
          `${s.name.padEnd(16)} ${describeConnection(s.connection)}\n${' '.repeat(17)}${s.tables
            .map((t) => `${t.name}${t.cursor ? ` (by ${t.cursor})` : ' (whole)'}`)
            .join(', ')}\n`,
        );
    });

  source
    .command('add')
    .description(
      'register a source from a definition file (.json, or a .ts/.js module), checked against its database',
    )
    .argument('<file>', 'the source definition (see docs/pipeline.md)')
    .option('--url <url>', 'the connection URL (postgres:// or mysql://), instead of the one in the file')
    .option(
      '--duplicates <meaning>',
      'lines repeating another line of their order exactly: quarantine (the default), keep or sum; replaces "duplicates" in the file',
      duplicateLines,
    )
    .action(async (file: string, options: { url?: string; duplicates?: DuplicateLines }) => {
      const { source: added, replaced } = await addSource(context, await readSourceFile(file), options);
      process.stdout.write(
        `${replaced ? 'Replaced' : 'Registered'} source ${added.name} (${describeConnection(added.connection)}): ` +
          `${added.tables.length} tables; every mapping runs against the source. The next daily run takes it.\n`,
      );
    });

  source
    .command('remove')
    .description('unregister a source; its data stays in the warehouse (see purge)')
    .argument('<name>')
    .action(async (name: string) => {
      if (!(await removeSource(context.warehouse(), name)))
        throw new Error(`No registered source named "${name}".`);
      process.stdout.write(
        `Removed source ${name}: runs no longer take it. Its facts, dimension rows, staged tables and quarantine ` +
          `stay in the warehouse; "cartflow source purge ${name}" deletes them.\n`,
      );
    });

  source
    .command('purge')
    .description(
      'delete everything a source left in the warehouse (facts, dimensions, staging, quarantine, checkpoints) and its definition',
    )
    .argument('<name>')
    .option('--yes', 'do not ask for confirmation')
    .action(async (name: string, options: { yes?: boolean }) => {
      const found = await countSourceData(context.warehouse(), name);
      if (Object.keys(found.tables).length === 0 && found.definition === 0)
        throw new Error(
          `Nothing of a source named "${name}" is in the warehouse: see "cartflow source list".`,
        );
      process.stdout.write(
        `Purging source ${name} deletes, in one transaction:\n${describeSourceData(found)}`,
      );
      if (!options.yes) {
        const answer = await ask(
          `Type the source's name (${name}) to delete all of it, anything else to keep it: `,
        );
        if (answer.trim() !== name) {
          process.stdout.write('Nothing deleted.\n');
          process.exitCode = 1;
          return;
        }
      }
      const purged = await purgeSource(context.warehouse(), name);
      process.stdout.write(`Purged source ${name}:\n${describeSourceData(purged)}`);
    });

  source
    .command('reset')
    .description("forget a source table's staged copy and checkpoint: the next run reloads it in full")
    .argument('<name>', 'the source')
    .argument('[table]', 'one table (default: all of them)')
    .action(async (name: string, table?: string) => {
      const tables = await resetSourceTables(context.warehouse(), name, table);
      process.stdout.write(
        tables.length === 0
          ? `Nothing staged for ${name}${table ? `.${table}` : ''}.\n`
          : `Reset ${tables.map((t) => `${name}.${t}`).join(', ')}: the next run loads ${tables.length === 1 ? 'it' : 'them'} in full.\n`,
      );
    });
}

/** The counts of `cartflow source purge`, a line per kind, with the tables they are in. */
function describeSourceData(data: SourceData): string {
  const n = (count: number) => count.toLocaleString('en-US');
  const staged = (table: string) => table.startsWith(`staging_${data.source}.`);
  const tables = Object.entries(data.tables);
  const within = (kind: ReturnType<typeof sourceDataKind>) => {
    const listed = tables
      .filter(([table]) => !staged(table) && sourceDataKind(table) === kind)
      .map(([table, rows]) => `${table} ${n(rows)}`);
    return listed.length > 0 ? ` (${listed.join(', ')})` : '';
  };
  const stagedRows = tables.filter(([table]) => staged(table)).reduce((sum, [, rows]) => sum + rows, 0);
  return [
    `facts: ${n(data.facts)}${within('facts')}`,
    `dimension rows: ${n(data.dimensionRows)}${within('dimensionRows')}`,
    `staged tables: ${n(data.stagedTables)}${data.stagedTables ? ` (schema staging_${data.source}, ${n(stagedRows)} rows)` : ''}`,
    `quarantine rows: ${n(data.quarantineRows)}`,
    `checkpoints: ${n(data.checkpoints)}${within('checkpoints')}`,
    `source definition: ${data.definition ? 'registered' : 'none (not registered)'}`,
    `other rows: ${n(data.otherRows)}${within('otherRows')}`,
  ]
    .map((line) => `- ${line}\n`)
    .join('');
}

/** One line from the terminal (or from stdin when it is piped); empty when stdin ends first. */
async function ask(question: string): Promise<string> {
  const terminal = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    return await new Promise<string>((resolve) => {
      terminal.once('close', () => resolve(''));
      terminal.question(question, resolve);
    });
  } finally {
    terminal.close();
  }
}
