import { Context, log } from '@temporalio/activity';
import type pg from 'pg';
import { inTransaction } from '../../lib/db';
import type { TransformSummary } from '../../lib/pipeline-summary';
import { changesTable, currentView } from '../extract/catalog';
import { ident } from '../extract/identifiers';
import { failure, isTransient, permanent } from '../pipeline-errors';
import { stagedMappingProblem } from '../sources/check';
import {
  CANONICAL_ENTITIES,
  stagingSchema,
  type CanonicalEntity,
  type SourceDefinition,
} from '../sources/definition';
import { findSource } from '../sources/registry';
import { CANONICAL_TABLES, canonicalInsert, clearCanonical } from '../sql/canonical';
import { DIM_CUSTOMER, DIM_DATE, DIM_DATE_UP_TO, DIM_PRODUCT } from '../sql/dimensions';
import { FACT_ORDER, FACT_ORDER_LINE, FACT_PAYMENT } from '../sql/facts';
import {
  COUNT_BY_RULE,
  FLAG_DUPLICATE_LINES,
  FLAG_ORPHANED_LINES_BY_ORDER,
  FLAG_ORPHANED_LINES_BY_PRODUCT,
  FLAG_ORPHANED_PAYMENTS,
  QUARANTINE,
  RESOLVE_QUARANTINE,
  SUM_DUPLICATE_LINES,
  flagDuplicateKeys,
} from '../sql/quality';
import { recordTransform, transformInputs, transformedAlready } from './incremental';

export interface TransformDeps {
  warehouse: pg.Pool;
  timezone: string;
}

const ENTITY_ORDER: CanonicalEntity[] = ['customers', 'products', 'orders', 'orderLines', 'payments'];

/** The columns a mapping select returns, found by running it for no rows. */
export async function mappingColumns(
  db: pg.PoolClient,
  source: SourceDefinition,
  entity: CanonicalEntity,
  where: 'warehouse' | 'source',
): Promise<Map<string, number>> {
  const sql = source.mapping[entity];
  if (!sql) return new Map();
  let fields: { name: string; dataTypeID: number }[];
  try {
    ({ fields } = await db.query(`select * from (${sql}) m limit 0`));
  } catch (error) {
    if (where === 'warehouse' && !isTransient(error))
      throw permanent(
        'MappingFailed',
        `Source ${source.name}: ${stagedMappingProblem(source, entity, error)}`,
        {
          source: source.name,
          entity,
          side: 'warehouse',
        },
      );
    failure(
      error,
      `The ${entity} mapping of source ${source.name} does not run${
        where === 'warehouse' ? ' over the staged tables' : ' against the source'
      }`,
      { type: 'MappingFailed', side: where === 'source' ? 'source' : 'warehouse' },
    );
  }
  const present = new Map(fields.map((f) => [f.name, f.dataTypeID]));
  const missing = CANONICAL_ENTITIES[entity]
    .filter((c) => c.required && !present.has(c.name))
    .map((c) => c.name);
  if (missing.length > 0)
    throw permanent(
      'MappingFailed',
      `The ${entity} mapping of source ${source.name} returns no ${missing.join(', ')} (it returns ${[...present.keys()].join(', ')}).`,
      { source: source.name, entity, missing },
    );
  return present;
}

/**
 * The tables a mapping may read, for this transaction: a temporary view under each listed table's
 * name, over its current copy (the staged table overlaid with changes not yet folded in) or the staged
 * table itself. With the search path on these views alone, a mapping cannot read a staged copy the
 * source no longer lists (it would be frozen at its last load). The caller drops them before
 * committing. Returns their names.
 */
async function exposeListedTables(
  client: pg.PoolClient,
  schema: string,
  tables: string[],
): Promise<string[]> {
  const exposed: string[] = [];
  for (const name of tables) {
    const { rows } = await client.query<{ table: string | null; current: string | null }>(
      `select to_regclass($1)::text as table, to_regclass($2)::text as current`,
      [`${ident(schema)}.${ident(name)}`, `${ident(schema)}.${ident(currentView(name))}`],
    );
    if (!rows[0].table) continue;
    const changed =
      rows[0].current !== null &&
      (await client.query(`select 1 from ${ident(schema)}.${ident(changesTable(name))} limit 1`)).rowCount !==
        0;
    await client.query(
      `create temporary view ${ident(name)} as select * from ${ident(schema)}.${ident(changed ? currentView(name) : name)}`,
    );
    exposed.push(name);
  }
  return exposed;
}

export function createTransformActivities({ warehouse, timezone }: TransformDeps) {
  return {
    /**
     * Maps a source's staged tables into canonical rows, applies the quality rules (quarantining what
     * breaks them), and updates the star schema — all in one transaction, so a failure leaves `core`
     * exactly as it was, and under a lock per source, so two runs do not interleave.
     */
    async transformSource(input: { source: string; runId: string; date: string }): Promise<TransformSummary> {
      const transformStarted = Date.now();
      const source = await findSource(warehouse, input.source);
      const context = Context.current();
      let step = 'starting';
      const heartbeat = setInterval(() => context.heartbeat({ step }), 2000);
      try {
        return await inTransaction(warehouse, async (client) => {
          const run = async <R extends pg.QueryResultRow = pg.QueryResultRow>(
            what: string,
            sql: string,
            params: unknown[] = [input.source, input.runId],
          ) => {
            step = what;
            // Each statement binds only the parameters it names ($1, $2).
            const used = Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
            const began = Date.now();
            try {
              const result = await client.query<R>(sql, params.slice(0, used));
              log.debug('Transform step', {
                source: source.name,
                step: what,
                ms: Date.now() - began,
                rows: result.rowCount,
              });
              return result;
            } catch (error) {
              failure(error, `${what} for source ${source.name}`);
            }
          };
          await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
            `cartflow.transform:${source.name}`,
          ]);
          await client.query(`select set_config('timezone', $1, true)`, [timezone]);
          // Hash joins over a million canonical rows stay in memory instead of spilling in batches.
          await client.query(`select set_config('work_mem', '128MB', true)`);
          // The mapping reads the listed tables' current copies under their own names, and nothing else.
          const overlaid = await exposeListedTables(
            client,
            stagingSchema(source.name),
            source.tables.map((t) => t.name),
          );
          await client.query(`select set_config('search_path', 'pg_temp', true)`);
          // The inputs the last transform read, again: core already holds what this one would write.
          const inputs = await transformInputs(client, source, stagingSchema(source.name), timezone);
          const unchanged = await transformedAlready(client, source.name, inputs);
          if (unchanged) {
            await run('Updating dim_date', DIM_DATE_UP_TO, [input.date]);
            for (const name of overlaid) await client.query(`drop view pg_temp.${ident(name)}`);
            log.info('Source unchanged since its last transform: nothing to write', { source: source.name });
            const none = () => ({ inserted: 0, updated: 0, deleted: 0 });
            const same = () => ({ new: 0, newVersions: 0, overwritten: 0 });
            return {
              source: source.name,
              mapped: {},
              quarantined: unchanged,
              customers: same(),
              products: same(),
              orderLines: none(),
              payments: none(),
              orders: none(),
            };
          }

          const mapped: Record<string, number> = {};
          const mappingMs: Record<string, number> = {};
          for (const entity of ENTITY_ORDER) {
            await run(`Clearing canonical ${entity}`, clearCanonical(entity), [input.source]);
            const sql = source.mapping[entity];
            if (!sql) continue;
            const present = await mappingColumns(client, source, entity, 'warehouse');
            step = `mapping ${entity}`;
            const began = Date.now();
            try {
              const result = await client.query(canonicalInsert(entity, sql, present), [input.source]);
              mapped[entity] = result.rowCount ?? 0;
              mappingMs[entity] = Date.now() - began;
              log.debug('Mapped', {
                source: source.name,
                entity,
                ms: mappingMs[entity],
                rows: result.rowCount,
              });
            } catch (error) {
              failure(error, `The ${entity} mapping of source ${source.name} failed`, {
                type: 'MappingFailed',
              });
            }
          }

          // Fresh statistics, so the planner joins the rewritten tables by hash, not by nested loops.
          for (const table of Object.values(CANONICAL_TABLES))
            await run(`Analyzing ${table}`, `analyze ${table}`, []);
          await run(
            'Finding duplicate customers',
            flagDuplicateKeys('staging.canonical_customers', 'customer_id'),
            [input.source],
          );
          await run(
            'Finding duplicate products',
            flagDuplicateKeys('staging.canonical_products', 'product_id'),
            [input.source],
          );
          await run('Finding duplicate orders', flagDuplicateKeys('staging.canonical_orders', 'order_id'), [
            input.source,
          ]);
          await run(
            'Finding duplicate order lines',
            flagDuplicateKeys('staging.canonical_order_lines', 'order_line_id'),
            [input.source],
          );
          await run(
            'Finding duplicate payments',
            flagDuplicateKeys('staging.canonical_payments', 'payment_id'),
            [input.source],
          );
          await run('Finding lines of missing orders', FLAG_ORPHANED_LINES_BY_ORDER, [input.source]);
          await run('Finding lines of missing products', FLAG_ORPHANED_LINES_BY_PRODUCT, [input.source]);
          await run('Finding orphaned payments', FLAG_ORPHANED_PAYMENTS, [input.source]);
          // What repeated identical lines mean is the source's to say (docs/pipeline.md, "duplicates").
          const duplicates = source.duplicates ?? 'quarantine';
          if (duplicates === 'quarantine')
            await run('Finding double-submitted lines', FLAG_DUPLICATE_LINES, [input.source]);
          else if (duplicates === 'sum')
            await run('Summing repeated identical lines', SUM_DUPLICATE_LINES, [input.source]);
          await run('Quarantining', QUARANTINE);
          await run('Resolving quarantine', RESOLVE_QUARANTINE);
          const counts = await run<{ entity: string; rule: string; rows: number }>(
            'Counting quarantine',
            COUNT_BY_RULE,
            [input.source],
          );

          await run('Updating dim_date', DIM_DATE, [input.source, input.date]);
          const customers = { new: 0, newVersions: 0, overwritten: 0 };
          const products = { new: 0, newVersions: 0, overwritten: 0 };
          for (const [dim, tally] of [
            [DIM_CUSTOMER, customers],
            [DIM_PRODUCT, products],
          ] as const) {
            tally.overwritten = (await run('Overwriting type-1 attributes', dim.overwrite)).rowCount ?? 0;
            await run('Finding type-2 changes', dim.findChanges);
            await run('Closing versions', dim.closeVersions, []);
            tally.newVersions = (await run('Opening versions', dim.openVersions)).rowCount ?? 0;
            tally.new = (await run('Inserting new members', dim.insertNew)).rowCount ?? 0;
          }
          for (const table of ['core.dim_customer', 'core.dim_product'])
            await run(`Analyzing ${table}`, `analyze ${table}`, []);
          const facts = async (name: string, statements: typeof FACT_ORDER_LINE) => {
            await run(`Staging ${name} facts`, statements.stage, [input.source]);
            await run(`Analyzing ${name} facts`, statements.analyze, []);
            const updated = (await run(`Updating ${name} facts`, statements.update)).rowCount ?? 0;
            const inserted =
              (await run(`Inserting ${name} facts`, statements.insert, [input.source, input.runId]))
                .rowCount ?? 0;
            const deleted =
              (await run(`Deleting stale ${name} facts`, statements.delete, [input.source])).rowCount ?? 0;
            return { inserted, updated, deleted };
          };
          const orderLines = await facts('order line', FACT_ORDER_LINE);
          const payments = await facts('payment', FACT_PAYMENT);
          const orders = await facts('order', FACT_ORDER);
          for (const name of overlaid) await client.query(`drop view pg_temp.${ident(name)}`);
          await recordTransform(client, source.name, inputs, input.runId, counts.rows);
          step = 'committing';
          const summary: TransformSummary = {
            source: source.name,
            mapped,
            quarantined: counts.rows,
            customers,
            products,
            orderLines,
            payments,
            orders,
            durationMs: Date.now() - transformStarted,
            mappingMs,
          };
          log.info('Transformed source', { source: source.name, ...summary.orderLines });
          return summary;
        });
      } finally {
        clearInterval(heartbeat);
      }
    },
  };
}
