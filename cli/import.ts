import { Presets, SingleBar } from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import type pg from 'pg';
import { importDocuments } from '../imports/documents';
import type { ImportDeps, ImportSummary } from '../imports/engine';
import { ImportRefused, type ProgressListener } from '../imports/input';
import { importOnlineRetail } from '../imports/online-retail';
import { importPayments } from '../imports/payments';
import { importRees46 } from '../imports/rees46';
import { importTransactions } from '../imports/transactions';
import { DUPLICATE_LINES, type DuplicateLines } from '../sources/definition';
import { formatMoney } from '../contracts/money';

export interface ImportCommandContext {
  /** The warehouse the files are staged in; the caller owns (and ends) the pool. */
  loadWarehousePool: () => Promise<pg.Pool>;
  /** The shop's time zone (CARTFLOW_TIMEZONE): dates without a zone are its local time. */
  timezone: string;
}

interface FileOptions {
  source?: string;
  delimiter?: string;
  header: boolean;
  columns?: string[];
  dateFormat?: string;
  dayFirst?: boolean;
  currency?: string;
  duplicates?: DuplicateLines;
  json?: boolean;
}

const commaList = (text: string): string[] => text.split(',').map((c) => c.trim());

/** `--duplicates`: what repeated identical lines of an order mean (docs/pipeline.md). */
export function duplicateLines(text: string): DuplicateLines {
  if (!(DUPLICATE_LINES as readonly string[]).includes(text))
    throw new InvalidArgumentError('--duplicates must be quarantine, keep or sum.');
  return text as DuplicateLines;
}

/** What repeated identical lines of an order mean for the source (docs/pipeline.md, "duplicates"). */
const duplicatesOption = (sub: Command) =>
  sub.option(
    '--duplicates <meaning>',
    'lines repeating another line of their order exactly: quarantine (a double submission, the default), keep (separate lines) or sum (one line, quantities added)',
    duplicateLines,
  );

function currencyCode(text: string): string {
  if (!/^[A-Za-z]{3}$/.test(text))
    throw new InvalidArgumentError('--currency must be an ISO 4217 code like GBP.');
  return text.toUpperCase();
}

/**
 * `cartflow import online-retail|transactions|rees46|documents FILE`: streams a file into the
 * warehouse (docs/imports.md), prints what it read, loaded and quarantined, and how to build the star
 * schema from it. A file it cannot understand is refused with the line or column and why (exit 2).
 */
export function registerImportCommand(program: Command, context: ImportCommandContext): void {
  const command = program
    .command('import')
    .description(
      'import a file: an Online Retail export, a sales log, its payments, REES46 events or customer documents',
    );

  /** Options every delimited-file import takes. */
  const fileOptions = (sub: Command) =>
    sub
      .option(
        '--source <name>',
        'the file source the rows belong to (staging_<name>); imports of the same source add up',
      )
      .option(
        '--delimiter <d>',
        'the column delimiter: a character, or comma, tab, semicolon, pipe, whitespace (default: told from the first line)',
      )
      .option(
        '--no-header',
        'the file has no header row (name its columns with --columns, or refer to them by number)',
      )
      .option('--columns <names>', 'comma-separated column names, for a file without a header row', commaList)
      .option(
        '--date-format <format>',
        'the date format, e.g. "M/D/YY H:MM", YYYYMMDD, "DD.MM.YYYY", "%d/%m/%Y" (default: recognised per value)',
      )
      .option('--json', 'print the summary as JSON');

  fileOptions(
    duplicatesOption(command.command('online-retail'))
      .argument(
        '<file>',
        'the export: InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country',
      )
      .description('import a UCI Online Retail export (CSV, plain or gzipped)')
      .option('--currency <code>', 'the currency of the prices, e.g. GBP', currencyCode),
  ).action(async (file: string, options: FileOptions) =>
    run(context, options, (deps, onProgress) => importOnlineRetail(deps, { file, ...options, onProgress })),
  );

  fileOptions(
    duplicatesOption(command.command('transactions'))
      .argument('<file>', 'a sales log: one row per sale, or per line of an order')
      .description(
        'import any sales log: which columns hold the customer, date and amount (by name or number from 1)',
      )
      .option('--customer <column>', 'the customer column (default: Customer, CustomerID, …)')
      .option('--date <column>', 'the date column (default: Date, Timestamp, OrderDate, …)')
      .option('--amount <column>', "the row's total (default: Total, Amount, Sales, …)")
      .option(
        '--order <column>',
        'the order id, when rows are lines of orders (default: every row is an order)',
      )
      .option('--product <column>', 'the product id (default: one unspecified product)')
      .option('--quantity <column>', 'units; the unit price is then amount ÷ quantity (default: 1)')
      .option(
        '--status <column>',
        "the order's status: cancelled/canceled/void → cancelled, refunded/returned → returned, anything else paid (default: paid, returned when all its rows are negative)",
      )
      .option(
        '--status-map <entries>',
        'more status values, e.g. "storno=cancelled,retour=returned,*=shipped" (* for every other value)',
      )
      .option('--day-first', 'read 1/2/2020 as 1 February when no value shows which (default: month first)')
      .option('--currency <code>', 'the currency of the amounts', currencyCode),
  ).action(
    async (
      file: string,
      options: FileOptions & {
        customer?: string;
        date?: string;
        amount?: string;
        order?: string;
        product?: string;
        quantity?: string;
        status?: string;
        statusMap?: string;
      },
    ) =>
      run(context, options, (deps, onProgress) => importTransactions(deps, { file, ...options, onProgress })),
  );

  fileOptions(
    command
      .command('payments')
      .argument('<file>', 'one row per payment or refund of the orders of a file source')
      .description(
        "import the payments of a file source's orders (imported before): which columns hold the order, date and amount",
      )
      .option(
        '--payment <column>',
        'the payment id (default: PaymentID…; else each row keyed by its content)',
      )
      .option('--order <column>', 'the order paid (default: Order, OrderID, InvoiceNo, …)')
      .option('--date <column>', 'when it was paid (default: Date, PaidAt, PaymentDate, …)')
      .option('--amount <column>', 'the amount, negative for a refund (default: Amount, Paid, Total, …)')
      .option(
        '--customer <column>',
        "who paid, when not the order's customer (default: the order's customer)",
      )
      .option('--method <column>', 'card, paypal, … (default: Method, PaymentMethod, PaymentType)')
      .option(
        '--status <column>',
        'refunded/refund/chargeback → refunded (amount made negative), failed/declined/void/cancelled → failed, anything else captured',
      )
      .option('--status-map <entries>', 'more status values, e.g. "storno=refunded,*=captured"')
      .option('--day-first', 'read 1/2/2020 as 1 February when no value shows which (default: month first)'),
  ).action(
    async (
      file: string,
      options: FileOptions & {
        payment?: string;
        order?: string;
        date?: string;
        amount?: string;
        customer?: string;
        method?: string;
        status?: string;
        statusMap?: string;
      },
    ) => run(context, options, (deps, onProgress) => importPayments(deps, { file, ...options, onProgress })),
  );

  fileOptions(
    command
      .command('rees46')
      .argument(
        '<file>',
        'event_time, event_type, product_id, category_id, category_code, brand, price, user_id, user_session',
      )
      .description('import REES46 events into staging.raw_events, where POST /v1/events puts events'),
  ).action(async (file: string, options: FileOptions) =>
    run(context, options, (deps, onProgress) => importRees46(deps, { file, ...options, onProgress })),
  );

  command
    .command('documents')
    .argument('<file>', 'JSON lines, or a JSON array, of customer documents')
    .description(
      'import customer documents with address{}, products[] and orders[] (id, status, comments, date, items)',
    )
    .option('--source <name>', 'the file source the documents belong to (default: from the file name)')
    .option('--date-format <format>', 'the format of order dates (default: recognised per value)')
    .option('--day-first', 'read 1/2/2020 as 1 February when no value shows which')
    .option('--currency <code>', 'the currency of the prices', currencyCode)
    .option(
      '--duplicates <meaning>',
      'lines repeating another line of their order exactly: quarantine (the default), keep or sum',
      duplicateLines,
    )
    .option('--json', 'print the summary as JSON')
    .action(async (file: string, options: FileOptions) =>
      run(context, options, (deps, onProgress) => importDocuments(deps, { file, ...options, onProgress })),
    );
}

async function run(
  context: ImportCommandContext,
  options: { json?: boolean },
  work: (deps: ImportDeps, onProgress: ProgressListener | undefined) => Promise<ImportSummary>,
): Promise<void> {
  const warehouse = await context.loadWarehousePool();
  const deps = { warehouse, timezone: context.timezone };
  let summary: ImportSummary;
  try {
    summary = await withProgressBar((onProgress) => work(deps, onProgress));
  } catch (error) {
    if (!(error instanceof ImportRefused)) throw error;
    process.stderr.write(`cartflow import: nothing was imported. ${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  process.stdout.write(options.json ? JSON.stringify(summary, null, 2) + '\n' : formatImportSummary(summary));
}

/** A progress bar on stderr over the file's bytes, when a person is watching; nothing otherwise. */
async function withProgressBar<T>(
  work: (onProgress: ProgressListener | undefined) => Promise<T>,
): Promise<T> {
  if (!process.stderr.isTTY) return work(undefined);
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: 'importing [{bar}] {percentage}% | {records} records | {eta_formatted} left',
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  let started = false;
  try {
    return await work((progress) => {
      if (!started) bar.start(progress.bytesTotal, 0, { records: 0 });
      started = true;
      bar.update(progress.bytesRead, { records: progress.records.toLocaleString('en-US') });
    });
  } finally {
    bar.stop();
  }
}

const n = (value: number) =>
  value.toLocaleString(
    'en-US',
    Number.isInteger(value) ? {} : { minimumFractionDigits: 2, maximumFractionDigits: 2 },
  );

/** Facts that are money, shown to the currency's 2 decimals. */
const MONEY_FACT = /(revenue|sales|refunds|amount|_value)$/;

/** The summary as a person reads it. */
export function formatImportSummary(s: ImportSummary): string {
  const quarantined = Object.values(s.quarantined).reduce((a, b) => a + b, 0);
  const lines = [
    `Imported ${s.file} (${s.kind}) into ${s.kind === 'rees46' ? 'staging.raw_events' : `source ${s.source}`} in ${(s.durationMs / 1000).toFixed(1)} s` +
      (s.seenBefore ? ' — this file had been imported before' : ''),
    `  records read     ${n(s.rowsRead)}`,
    `  loaded           ${n(s.loaded)}`,
    `  staged rows      ${n(s.inserted)} new, ${n(s.updated)} updated, ${n(s.unchanged)} unchanged`,
    `  quarantined      ${n(quarantined)}`,
    ...Object.entries(s.quarantined).map(([rule, count]) => `    ${rule.padEnd(20)} ${n(count)}`),
  ];
  const facts = Object.entries(s.facts).map(
    ([key, value]) =>
      `${key.replace(/_/g, ' ')} ${typeof value !== 'number' ? String(value) : MONEY_FACT.test(key) ? formatMoney(value) : n(value)}`,
  );
  if (facts.length > 0) lines.push(`  ${facts.join(' · ')}`);
  if (s.firstDate) lines.push(`  dates            ${s.firstDate} … ${s.lastDate}`);
  lines.push(`  into             ${s.tables.join(', ')}`);
  for (const note of s.notes) lines.push(`  note: ${note}`);
  if (s.kind !== 'rees46' && s.lastDate)
    lines.push(`Build the star schema from it: cartflow run daily --date ${s.lastDate}`);
  return lines.join('\n') + '\n';
}
