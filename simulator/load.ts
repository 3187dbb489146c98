import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { copyInto, copyLine } from './copy';
import { emptyDirtCounts, type DirtCounts } from './dirt';
import { ShopHistory, type DayActivity, type HistoryOptions } from './history';
import {
  CUSTOMERS,
  ORDERS,
  ORDER_LINES,
  PAYMENTS,
  PRODUCTS,
  SHOP_TABLES,
  SITE_EVENTS,
  type TableMapping,
} from './tables';

export interface SimulateOptions extends HistoryOptions {
  /** Empty the shop tables first instead of refusing when they hold rows. */
  reset?: boolean;
  /**
   * Called as the work advances, with `total` known from the start. The units are rows: exact for
   * customers and products, estimated per simulated day for the other tables, so that the progress
   * follows the time the work takes (see ROWS_PER_CUSTOMER_DAY).
   */
  onProgress?: (done: number, total: number) => void;
}

export interface SimulateSummary {
  customers: number;
  products: number;
  orders: number;
  orderLines: number;
  payments: number;
  siteEvents: number;
  /** Rows that got each planted defect (see DIRT_RATES). */
  dirt: Record<string, number>;
  seconds: number;
}

/** The shop already holds rows and the caller did not ask to replace them. */
export class ShopNotEmptyError extends Error {
  constructor(readonly tablesWithRows: readonly string[]) {
    const held = tablesWithRows.join(', ');
    super(
      `The shop database already holds data (${held}); simulating on top of it would mix two histories. ` +
        'Simulate into a fresh shop database, or pass --reset (options.reset) to empty the shop tables first.',
    );
    this.name = 'ShopNotEmptyError';
  }
}

/**
 * Writes the demo shop's simulated history for a seed into the shop database, table by table with
 * streamed COPY, in one transaction: a run that fails or is killed leaves the tables as they were.
 */
export async function simulateShop(shop: pg.Pool, options: SimulateOptions): Promise<SimulateSummary> {
  const started = performance.now();
  const history = new ShopHistory(options); // validates the options before anything touches the database
  const progress = progressReporter(history, options.onProgress);
  const dirt = emptyDirtCounts();
  const client = await shop.connect();
  try {
    await client.query('begin');
    await claimEmptyTables(client, options.reset ?? false);
    const rows = {
      customers: await copyTable(client, CUSTOMERS, history.customers(), dirt, progress),
      products: await copyTable(client, PRODUCTS, history.products(), dirt, progress),
      orders: await copyDaily(client, history, ORDERS, (day) => day.orders, dirt, progress.daily('orders')),
      orderLines: await copyDaily(
        client,
        history,
        ORDER_LINES,
        (day) => day.orderLines,
        dirt,
        progress.daily('orderLines'),
      ),
      payments: await copyDaily(
        client,
        history,
        PAYMENTS,
        (day) => day.payments,
        dirt,
        progress.daily('payments'),
      ),
      siteEvents: await copyDaily(
        client,
        history,
        SITE_EVENTS,
        (day) => day.siteEvents,
        dirt,
        progress.daily('siteEvents'),
      ),
    };
    await client.query('commit');
    return { ...rows, dirt: { ...dirt }, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Locks the shop tables for this transaction (a second simulate waits rather than interleaving), then
 * empties them when asked, or refuses when they hold rows.
 */
async function claimEmptyTables(client: pg.ClientBase, reset: boolean): Promise<void> {
  const list = SHOP_TABLES.join(', ');
  if (reset) {
    await client.query(`truncate ${list}`);
    return;
  }
  await client.query(`lock table ${list} in share row exclusive mode`);
  const { rows } = await client.query<Record<string, boolean>>(
    `select ${SHOP_TABLES.map((table) => `exists (select 1 from ${table}) as ${table}`).join(', ')}`,
  );
  const tablesWithRows = SHOP_TABLES.filter((table) => rows[0][table]);
  if (tablesWithRows.length > 0) throw new ShopNotEmptyError(tablesWithRows);
}

/**
 * Rows per customer and simulated day of each day-based table, as measured over 10,000 customers and
 * a year. Only the progress estimate uses them: site events are most of the rows and of the time.
 */
const ROWS_PER_CUSTOMER_DAY = { orders: 0.002, orderLines: 0.0036, payments: 0.0021, siteEvents: 0.1 };
type DailyTable = keyof typeof ROWS_PER_CUSTOMER_DAY;

interface Progress {
  advance(units: number): void;
  /** Advances by one simulated day's estimated rows of the table. */
  daily(table: DailyTable): { day(): void };
}

function progressReporter(history: ShopHistory, onProgress: SimulateOptions['onProgress']): Progress {
  const customers = history.population.count;
  const unitsPerDay = (table: DailyTable) =>
    Math.max(1, Math.round(customers * ROWS_PER_CUSTOMER_DAY[table]));
  const dailyUnits = (Object.keys(ROWS_PER_CUSTOMER_DAY) as DailyTable[]).reduce(
    (sum, table) => sum + unitsPerDay(table),
    0,
  );
  const total = customers + history.catalog.count + history.period.days * dailyUnits;
  let done = 0;
  onProgress?.(0, total);
  const progress: Progress = {
    advance(units) {
      done += units;
      onProgress?.(done, total);
    },
    daily: (table) => ({ day: () => progress.advance(unitsPerDay(table)) }),
  };
  return progress;
}

/** How often (in rows) the customers and products tables report progress. */
const ROWS_PER_PROGRESS_REPORT = 1000;

async function copyTable<Row>(
  client: pg.ClientBase,
  mapping: TableMapping<Row>,
  rows: Iterable<Row>,
  dirt: DirtCounts,
  progress: Progress,
): Promise<number> {
  function* lines(): Generator<string> {
    let sinceReport = 0;
    for (const row of rows) {
      mapping.countDirt?.(row, dirt);
      yield copyLine(mapping.values(row));
      if (++sinceReport === ROWS_PER_PROGRESS_REPORT) {
        progress.advance(sinceReport);
        sinceReport = 0;
      }
    }
    progress.advance(sinceReport);
  }
  return copyInto(client, mapping.table, mapping.columns, lines());
}

/** One day-based table: the whole history is replayed, and this table's share of each day is written. */
async function copyDaily<Row>(
  client: pg.ClientBase,
  history: ShopHistory,
  mapping: TableMapping<Row>,
  rowsOf: (day: DayActivity) => Row[],
  dirt: DirtCounts,
  progress: { day(): void },
): Promise<number> {
  function* lines(): Generator<string> {
    for (const day of history.days()) {
      for (const row of rowsOf(day)) {
        mapping.countDirt?.(row, dirt);
        yield copyLine(mapping.values(row));
      }
      progress.day();
    }
  }
  return copyInto(client, mapping.table, mapping.columns, lines());
}
