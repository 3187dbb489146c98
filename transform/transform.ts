import { Context, log } from '@temporalio/activity';
import type pg from 'pg';
import { inTransaction } from '../lib/db';
import type { TransformSummary } from '../contracts/pipeline-summary';
import { changesTable, currentView } from '../extract/catalog';
import { ident } from '../lib/identifiers';
import { failure, isTransient, permanent } from '../lib/pipeline-errors';
import { stagedMappingProblem } from '../extract/check';
import {
  CANONICAL_ENTITIES,
  stagingSchema,
  type CanonicalEntity,
  type SourceDefinition,
} from '../sources/definition';
import { findSource } from '../sources/registry';
import {
  CANONICAL_TABLES,
  ENTITY_KEYS,
  SCOPED_CANONICAL,
  SCOPE_TABLES,
  allCanonicalOf,
  canonicalInsert,
  canonicalOf,
  clearCanonical,
  keyIn,
  keyMissing,
} from './sql/canonical';
import { DIM_DATE_UP_TO, dimCustomer, dimDate, dimProduct } from './sql/dimensions';
import { factStatementsOf } from './sql/facts';
import { scopeLineTotals } from './sql/reconcile';
import {
  COUNT_BY_RULE,
  flagDuplicateKeys,
  flagDuplicateLines,
  flagOrphanedLinesByOrder,
  flagOrphanedLinesByProduct,
  flagOrphanedPayments,
  quarantine,
  resolveQuarantine,
  sumDuplicateLines,
} from './sql/quality';
import {
  SCOPE_THRESHOLD,
  mappingReads,
  planTransform,
  previousTransform,
  recordTransform,
  transformInputs,
  type ScopeLineTotals,
  type ScopeLines,
  transformedAlready,
  type TransformPlan,
} from './incremental';

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
): Promise<Map<string, string>> {
  const exposed = new Map<string, string>();
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
    const relation = `${ident(schema)}.${ident(changed ? currentView(name) : name)}`;
    await client.query(`create temporary view ${ident(name)} as select * from ${relation}`);
    exposed.set(name, relation);
  }
  return exposed;
}

/** The sources named in CARTFLOW_FULL_TRANSFORM (comma-separated, `*` for all) always take the full path. */
function fullTransformAsked(source: string): boolean {
  const names = (process.env.CARTFLOW_FULL_TRANSFORM ?? '').split(',').map((n) => n.trim());
  return names.includes('*') || names.includes(source);
}

const ENTITY_TABLE_NAMES: Record<CanonicalEntity, string> = {
  customers: 'customers',
  products: 'products',
  orders: 'orders',
  orderLines: 'order_lines',
  payments: 'payments',
};

/** The non-key columns of each entity that widen the scope: a line's order and product, an order's customer… */
const SCOPE_COLUMNS: Record<CanonicalEntity, string[]> = {
  customers: [],
  products: [],
  orders: ['customer_id'],
  orderLines: ['order_id', 'product_id'],
  payments: ['order_id', 'customer_id'],
};

const WANT = {
  customers: 'pg_temp.cartflow_want_customers',
  products: 'pg_temp.cartflow_want_products',
  orders: 'pg_temp.cartflow_want_orders',
  orderLines: 'pg_temp.cartflow_want_lines',
  payments: 'pg_temp.cartflow_want_payments',
};

/**
 * Which rows of an entity (alias `a`, text columns as canonical) a key-scoped transform maps again:
 * every member changed, every order touched by a changed line, payment or customer with all its lines
 * and payments, and the payments of a changed customer. Rules over several rows (duplicates, orphans)
 * and the facts (which point at the dimensions and sum an order's lines and payments) see exactly
 * these rows, whole.
 */
function scopeCondition(
  entity: CanonicalEntity,
  a: string | ((column: string, set: CanonicalEntity) => string),
): string {
  const inSet =
    typeof a === 'string'
      ? (column: string, set: CanonicalEntity) => `${a}.${column} in (select k from ${WANT[set]})`
      : a;
  switch (entity) {
    case 'customers':
      return inSet('customer_id', 'customers');
    case 'products':
      return inSet('product_id', 'products');
    case 'orders':
      return inSet('order_id', 'orders');
    case 'orderLines':
      return `(${inSet('order_id', 'orders')} or ${inSet('order_line_id', 'orderLines')})`;
    case 'payments':
      return `(${inSet('order_id', 'orders')} or ${inSet('payment_id', 'payments')} or ${inSet('customer_id', 'customers')})`;
  }
}

/**
 * scopeCondition over a mapping's own columns (`m`, their types in `columns`): true for every row
 * whose canonical keys are in the scope, and for the rows without a key (keyIn, keyMissing). The
 * key sets are array parameters appended to `params` (which holds $1, the source).
 */
function scopePrefilter(
  entity: CanonicalEntity,
  columns: Map<string, number>,
  keys: Record<CanonicalEntity, string[]>,
  params: unknown[],
): string {
  const key = ENTITY_KEYS[entity];
  const inSet = (column: string, set: CanonicalEntity) =>
    keyIn(`m.${column}`, columns.get(column), keys[set], params);
  return `(${keyMissing(`m.${key}`, columns.get(key))} or ${scopeCondition(entity, inSet)})`;
}

const DIRECT = 'pg_temp.cartflow_direct';

/** The canonical order lines of a key-scoped transform's scope, with their row ids (`tid`). */
const SCOPE_LINE_ROWS = 'pg_temp.cartflow_scope_line_rows';

/** The scope's orders and its quarantined order lines as the canonical tables held them. */
const OLD = {
  orders: 'pg_temp.cartflow_old_orders',
  orderLines: 'pg_temp.cartflow_old_order_lines',
};

/** An order line (or its fact, alias `a`) is one of the scope's lines: of its orders, changed, or without a key. */
const scopeLine = (a: string) =>
  `(${a}.order_id in (select k from ${WANT.orders}) or ${a}.order_line_id in (select k from ${WANT.orderLines})
    or ${a}.order_line_id is null)`;

/** The entity's name in ops.quarantine and the quarantine counts. */
const QUARANTINE_ENTITY: Record<CanonicalEntity, string> = {
  customers: 'customers',
  products: 'products',
  orders: 'orders',
  orderLines: 'order_lines',
  payments: 'payments',
};

/**
 * The keys whose canonical rows may differ from what the last transform mapped: each mapping run over
 * each changed table's changed keys (every version staged of them, old and new) with the other tables
 * whole; then widened as scopeCondition says. Returns why the full path must be taken instead, if so.
 */
async function buildScope(
  client: pg.PoolClient,
  source: SourceDefinition,
  schema: string,
  plan: Extract<TransformPlan, { path: 'scoped' }>,
  exposed: Map<string, string>,
  /** Where the time went: the mappings' plans, their runs over the changed rows, the scope's keys. */
  stepsMs: Record<string, number>,
): Promise<string | undefined> {
  let lap = Date.now();
  const timed = (what: string) => {
    stepsMs[what] = (stepsMs[what] ?? 0) + Date.now() - lap;
    lap = Date.now();
  };
  await client.query(
    `create temp table cartflow_direct (entity text, k text, order_id text, product_id text, customer_id text) on commit drop`,
  );
  const changed = new Map(plan.changed.map((c) => [c.table, c]));
  // Each mapping's plan over the staged tables themselves (the current copies' overlay is not the mapping's).
  const point = async (toBase: boolean) => {
    for (const [name, relation] of exposed) {
      await client.query(`drop view pg_temp.${ident(name)}`);
      await client.query(
        `create temporary view ${ident(name)} as select * from ${toBase ? `${ident(schema)}.${ident(name)}` : relation}`,
      );
    }
  };
  await point(true);
  const plans = new Map<CanonicalEntity, { reads: Set<string>; problems: string[] }>();
  for (const entity of ENTITY_ORDER) {
    const sql = source.mapping[entity];
    if (sql)
      plans.set(
        entity,
        await mappingReads(
          client,
          sql,
          schema,
          source.tables.map((t) => t.name),
        ),
      );
  }
  await point(false);
  timed('Scope: planning the mappings');
  for (const entity of ENTITY_ORDER) {
    const sql = source.mapping[entity];
    if (!sql) continue;
    const present = await mappingColumns(client, source, entity, 'warehouse');
    const { reads, problems } = plans.get(entity)!;
    if (problems.length > 0) return `the ${entity} mapping is not key-local (${problems.join(', ')})`;
    const text = (column: string) =>
      present.has(column) ? `nullif(btrim(m.${column}::text), '')` : 'null::text';
    for (const name of reads) {
      const change = changed.get(name);
      if (!change) continue;
      const table = source.tables.find((t) => t.name === name)!;
      if (!/^\d+$/.test(change.sinceSeq)) throw new Error(`Bad cartflow_seq ${change.sinceSeq}`);
      const { fields } = await client.query(`select * from pg_temp.${ident(name)} limit 0`);
      const columns = fields.map((f) => ident(f.name)).join(', ');
      const key = table.primaryKey.map(ident).join(', ');
      const changes = `${ident(schema)}.${ident(changesTable(name))}`;
      await client.query(`drop view pg_temp.${ident(name)}`);
      await client.query(
        `create temporary view ${ident(name)} as
         with k as (select distinct ${key} from ${changes} where cartflow_seq > ${change.sinceSeq})
         select ${columns} from ${ident(schema)}.${ident(name)} where (${key}) in (select ${key} from k)
         union all
         select ${columns} from ${changes} where (${key}) in (select ${key} from k)`,
      );
      await client.query(
        `insert into ${DIRECT} (entity, k, order_id, product_id, customer_id)
         select distinct $1, ${text(ENTITY_KEYS[entity])}, ${['order_id', 'product_id', 'customer_id']
           .map((c) => (SCOPE_COLUMNS[entity].includes(c) ? text(c) : 'null::text'))
           .join(', ')}
           from (${sql}) m`,
        [entity],
      );
      await client.query(`drop view pg_temp.${ident(name)}`);
      await client.query(`create temporary view ${ident(name)} as select * from ${exposed.get(name)!}`);
    }
  }
  timed('Scope: mapping the changed rows');
  const direct = (entity: CanonicalEntity) =>
    `select k from ${DIRECT} where entity = '${entity}' and k is not null`;
  await client.query(`create temp table cartflow_want_customers on commit drop as ${direct('customers')}`);
  await client.query(`create temp table cartflow_want_products on commit drop as ${direct('products')}`);
  await client.query(`create temp table cartflow_want_lines on commit drop as ${direct('orderLines')}`);
  await client.query(`create temp table cartflow_want_payments on commit drop as ${direct('payments')}`);
  // The orders the changes touch; each part only when its set is not empty (the index-less ones scan).
  const { rows: sizes } = await client.query<{ entity: string; n: number }>(
    `select entity, count(*)::int as n from ${DIRECT} where k is not null group by entity`,
  );
  const size = (entity: CanonicalEntity) => sizes.find((r) => r.entity === entity)?.n ?? 0;
  const any = (set: string) => `(select k from ${set})`;
  const parts = [
    direct('orders'),
    `select order_id from ${DIRECT} where entity in ('orderLines', 'payments') and order_id is not null`,
  ];
  if (size('products') > 0)
    parts.push(`select order_id from staging.canonical_order_lines
                 where source = $1 and product_id in ${any(WANT.products)} and order_id is not null`);
  if (size('customers') > 0)
    parts.push(
      `select order_id from staging.canonical_orders where source = $1 and customer_id in ${any(WANT.customers)}`,
      `select order_id from staging.canonical_payments
        where source = $1 and customer_id in ${any(WANT.customers)} and order_id is not null`,
    );
  if (size('payments') > 0)
    parts.push(`select order_id from staging.canonical_payments
                 where source = $1 and payment_id in ${any(WANT.payments)} and order_id is not null`);
  await client.query(
    `create temp table cartflow_want_orders on commit drop as ${parts.join('\n union ')}`,
    parts.length > 2 ? [source.name] : [],
  );
  // The lines of those orders, the changed lines and the lines without a key, in one scan, with their
  // row ids (the transform deletes them by these); a changed line's order as the canonical table holds
  // it (before a move) joins the orders, with its lines (a second scan, rare).
  await client.query(
    `create temp table ${SCOPE_LINE_ROWS.replace('pg_temp.', '')} on commit drop as
     select ctid as tid, order_line_id, order_id from staging.canonical_order_lines
      where source = $1
        and (order_id in ${any(WANT.orders)} or order_line_id in ${any(WANT.orderLines)} or order_line_id is null)`,
    [source.name],
  );
  const moved = await client.query(
    `create temp table cartflow_moved_orders on commit drop as
     select order_id as k from ${SCOPE_LINE_ROWS}
      where order_line_id in ${any(WANT.orderLines)} and order_id is not null
     except select k from ${WANT.orders}`,
  );
  if ((moved.rowCount ?? 0) > 0) {
    await client.query(`insert into ${WANT.orders} select k from pg_temp.cartflow_moved_orders`);
    await client.query(
      `insert into ${SCOPE_LINE_ROWS}
       select ctid, order_line_id, order_id from staging.canonical_order_lines
        where source = $1 and order_id in (select k from pg_temp.cartflow_moved_orders)`,
      [source.name],
    );
  }
  for (const table of Object.values(WANT)) await client.query(`analyze ${table}`);
  // The scope's keys as the canonical tables hold them now (the rows mapped again add theirs).
  const scopeKeys: Record<CanonicalEntity, string> = {
    customers: `select k from ${WANT.customers}`,
    products: `select k from ${WANT.products}`,
    orders: `select k from ${WANT.orders}`,
    orderLines: `select order_line_id from ${SCOPE_LINE_ROWS} union select k from ${WANT.orderLines}`,
    payments: `select payment_id from staging.canonical_payments
                where source = $1 and order_id in (select k from ${WANT.orders})
               ${size('customers') > 0 ? `union select payment_id from staging.canonical_payments where source = $1 and customer_id in (select k from ${WANT.customers})` : ''}
               union select k from ${WANT.payments}`,
  };
  for (const entity of ENTITY_ORDER) {
    const table = SCOPE_TABLES[entity];
    await client.query(`create temp table ${table.replace('pg_temp.', '')} (k text) on commit drop`);
    const sql = `insert into ${table} ${scopeKeys[entity]}`;
    await client.query(sql, sql.includes('$1') ? [source.name] : []);
    // Against the canonical table's statistics: a threshold, not a count.
    const { rows } = await client.query<{ scope: number; total: number }>(
      `select (select count(*) from ${table})::int as scope,
              greatest((select reltuples from pg_class where oid = '${CANONICAL_TABLES[entity]}'::regclass), 0)::bigint::int as total`,
    );
    if (rows[0].total > 0 && rows[0].scope > SCOPE_THRESHOLD * rows[0].total)
      return `${rows[0].scope} of ${rows[0].total} ${ENTITY_TABLE_NAMES[entity].replace('_', ' ')} in the changes' scope, more than ${SCOPE_THRESHOLD * 100}%`;
    await client.query(`analyze ${table}`);
  }
  timed("Scope: the changes' orders, lines and payments");
  await client.query(`create temp table cartflow_days (day text) on commit drop`);
  await client.query(
    `create temp table cartflow_rule_counts (entity text, rule text, n bigint) on commit drop`,
  );
  return undefined;
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
          const stepsMs: Record<string, number> = {};
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
              stepsMs[what] = (stepsMs[what] ?? 0) + Date.now() - began;
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
            for (const name of overlaid.keys()) await client.query(`drop view pg_temp.${ident(name)}`);
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
              path: { kind: 'unchanged', reason: 'staged tables as the last transform read them' },
            };
          }

          // Only what changed since the last transform, when the staged tables say what that is.
          const schema = stagingSchema(source.name);
          const previous = await previousTransform(client, source.name);
          let plan = await planTransform(
            client,
            source,
            schema,
            inputs,
            previous,
            fullTransformAsked(source.name),
          );
          if (plan.path === 'scoped') {
            step = 'finding the changed keys';
            const began = Date.now();
            const reason = await buildScope(client, source, schema, plan, overlaid, stepsMs);
            stepsMs['Finding the changed keys'] = Date.now() - began;
            if (reason) plan = { path: 'full', reason };
            log.debug('Scope', { source: source.name, ms: Date.now() - began, reason });
          }
          const scoped = plan.path === 'scoped';
          // The temporary tables a key-scoped transform analyzes are small: a small sample does.
          if (scoped) await client.query(`select set_config('default_statistics_target', '10', true)`);
          const mapped: Record<string, number> = {};
          const mappingMs: Record<string, number> = {};
          const days = (table: string) => `insert into pg_temp.cartflow_days
            select distinct coalesce(to_char(placed_at_ts, 'YYYY-MM-DD'), '(no date)') from ${table} c
             where source = $1 and ${scopeCondition('orders', 'c')}`;
          // Scoped, the scope's canonical rows leave the canonical tables for SCOPED_CANONICAL.
          let scopeKeys: Record<CanonicalEntity, string[]> | undefined;
          let linesBefore: ScopeLineTotals[] = [];
          /** Rows of keys new to the scope, moved into it from outside (their orders may be outside). */
          let movedRows = 0;
          let linesNow: ScopeLineTotals[] = [];
          if (scoped) {
            scopeKeys = {} as Record<CanonicalEntity, string[]>;
            for (const entity of ENTITY_ORDER) {
              scopeKeys[entity] = (
                await client.query<{ keys: string[] }>(
                  `select coalesce(array_agg(k) filter (where k is not null), '{}') as keys from ${WANT[entity]}`,
                )
              ).rows[0].keys;
              await client.query(
                `create temp table ${SCOPED_CANONICAL[entity].replace('pg_temp.', '')}
                   (like ${CANONICAL_TABLES[entity]} including defaults) on commit drop`,
              );
            }
            // The scope's orders and quarantined lines as they were, for counting its lines before.
            for (const entity of ['orders', 'orderLines'] as const)
              await client.query(
                `create temp table ${OLD[entity].replace('pg_temp.', '')} (like ${CANONICAL_TABLES[entity]}) on commit drop`,
              );
            for (const entity of ['orders', 'products'] as const)
              await client.query(
                `create temporary view ${allCanonicalOf(entity, true).replace('pg_temp.', '')} as
                 select * from ${CANONICAL_TABLES[entity]} union all select * from ${SCOPED_CANONICAL[entity]}`,
              );
          }
          for (const entity of ENTITY_ORDER) {
            const table = CANONICAL_TABLES[entity];
            const key = ENTITY_KEYS[entity];
            if (!scoped) await run(`Clearing canonical ${entity}`, clearCanonical(entity), [input.source]);
            else {
              await run(
                `Clearing canonical ${entity} in scope`,
                `with gone as (delete from ${table} c${
                  entity === 'orderLines'
                    ? ` using (select distinct tid from ${SCOPE_LINE_ROWS}) r where c.ctid = r.tid and c.source = $1`
                    : ` where source = $1 and (c.${key} in (select k from ${SCOPE_TABLES[entity]}) or c.${key} is null)`
                }
                                returning c.*)${
                                  entity === 'orders' || entity === 'orderLines'
                                    ? `, old as (insert into ${OLD[entity]} select * from gone${entity === 'orderLines' ? ' where rule is not null' : ''})`
                                    : ''
                                }
                 insert into pg_temp.cartflow_rule_counts
                 select '${QUARANTINE_ENTITY[entity]}', rule, -count(*) from gone where rule is not null group by rule`,
                [input.source],
              );
              // The days of the scope's orders as they were: among the rows just taken out.
              if (entity === 'orders')
                await run('Finding the days of the orders', days(OLD.orders), [input.source]);
            }
            const sql = source.mapping[entity];
            if (!sql) continue;
            const present = await mappingColumns(client, source, entity, 'warehouse');
            step = `mapping ${entity}`;
            const began = Date.now();
            const params: unknown[] = [input.source];
            let fresh = 0;
            try {
              const insert = canonicalInsert(
                entity,
                sql,
                present,
                scoped
                  ? {
                      exact: `l1.${key} is null or ${scopeCondition(entity, 'l1')}`,
                      prefilter: scopePrefilter(entity, present, scopeKeys!, params),
                    }
                  : undefined,
                canonicalOf(entity, scoped),
              );
              // Scoped, the keys mapped join the scope (a new line of an order in it, say).
              const result = scoped
                ? await client.query<{ n: number; fresh: number }>(
                    `with mapped as (${insert} returning ${key}),
                          fresh as (select ${key} from mapped where ${key} is not null
                                    except select k from ${SCOPE_TABLES[entity]}),
                          scope as (insert into ${SCOPE_TABLES[entity]} select ${key} from fresh)
                     select (select count(*) from mapped)::int as n, (select count(*) from fresh)::int as fresh`,
                    params,
                  )
                : await client.query(insert, [input.source]);
              mapped[entity] = scoped ? (result.rows[0] as { n: number }).n : (result.rowCount ?? 0);
              if (scoped) fresh = (result.rows[0] as { fresh: number }).fresh;
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
            // A key mapped that was not in the scope may have rows left in the canonical table (mapped
            // from other staged rows): they join the scope's rows as they are, as a full transform
            // would find them beside the new ones.
            if (fresh > 0)
              movedRows +=
                (
                  await run(
                    `Moving canonical ${entity} of keys new to the scope`,
                    `with moved as (delete from ${table} c where source = $1 and c.${key} in (select k from ${SCOPE_TABLES[entity]})
                                 returning c.*),
                      counted as (insert into pg_temp.cartflow_rule_counts
                                  select '${QUARANTINE_ENTITY[entity]}', rule, -count(*) from moved where rule is not null group by rule)
                 insert into ${SCOPED_CANONICAL[entity]} select * from moved`,
                    [input.source],
                  )
                ).rowCount ?? 0;
            if (scoped && entity === 'orders')
              await run('Finding the days of the orders', days(SCOPED_CANONICAL.orders), [input.source]);
          }
          if (scoped)
            for (const table of [...Object.values(SCOPE_TABLES), ...Object.values(SCOPED_CANONICAL)])
              await run(`Analyzing ${table}`, `analyze ${table}`, []);

          // Fresh statistics, so the planner joins the rewritten tables by hash, not by nested loops.
          if (!scoped)
            for (const table of Object.values(CANONICAL_TABLES))
              await run(`Analyzing ${table}`, `analyze ${table}`, []);
          for (const entity of ENTITY_ORDER)
            await run(
              `Finding duplicate ${entity}`,
              flagDuplicateKeys(canonicalOf(entity, scoped), ENTITY_KEYS[entity], entity, scoped),
              [input.source],
            );
          await run('Finding lines of missing orders', flagOrphanedLinesByOrder(scoped, movedRows === 0), [
            input.source,
          ]);
          await run('Finding lines of missing products', flagOrphanedLinesByProduct(scoped), [input.source]);
          await run('Finding orphaned payments', flagOrphanedPayments(scoped, movedRows === 0), [
            input.source,
          ]);
          // What repeated identical lines mean is the source's to say (docs/pipeline.md, "duplicates").
          const duplicates = source.duplicates ?? 'quarantine';
          if (duplicates === 'quarantine')
            await run('Finding double-submitted lines', flagDuplicateLines(scoped), [input.source]);
          else if (duplicates === 'sum')
            await run('Summing repeated identical lines', sumDuplicateLines(scoped), [input.source]);
          await run('Quarantining', quarantine(scoped));
          await run('Resolving quarantine', resolveQuarantine(scoped));
          // Scoped, the last transform's counts less the scope's rows as they were, plus as they are.
          if (scoped)
            for (const entity of ENTITY_ORDER)
              await run(
                `Counting quarantine of ${entity} in scope`,
                `insert into pg_temp.cartflow_rule_counts
                 select '${QUARANTINE_ENTITY[entity]}', rule, count(*)
                   from ${SCOPED_CANONICAL[entity]} where source = $1 and rule is not null group by rule`,
                [input.source],
              );
          const counts = await run<{ entity: string; rule: string; rows: number }>(
            'Counting quarantine',
            scoped
              ? `select entity, rule, sum(n)::int as rows
                   from (select entity, rule, n from pg_temp.cartflow_rule_counts
                         union all
                         select entity, rule, rows from jsonb_to_recordset($1::jsonb) as q(entity text, rule text, rows int)) c
                  group by entity, rule having sum(n) <> 0 order by entity, rule`
              : COUNT_BY_RULE,
            [scoped ? JSON.stringify(previous!.quarantined) : input.source],
          );

          await run('Updating dim_date', dimDate(scoped), [input.source, input.date]);
          const customers = { new: 0, newVersions: 0, overwritten: 0 };
          const products = { new: 0, newVersions: 0, overwritten: 0 };
          for (const [dim, tally] of [
            [dimCustomer(scoped), customers],
            [dimProduct(scoped), products],
          ] as const) {
            tally.overwritten = (await run('Overwriting type-1 attributes', dim.overwrite)).rowCount ?? 0;
            await run('Finding type-2 changes', dim.findChanges);
            await run('Closing versions', dim.closeVersions, []);
            tally.newVersions = (await run('Opening versions', dim.openVersions)).rowCount ?? 0;
            tally.new = (await run('Inserting new members', dim.insertNew)).rowCount ?? 0;
          }
          if (!scoped)
            for (const table of ['core.dim_customer', 'core.dim_product'])
              await run(`Analyzing ${table}`, `analyze ${table}`, []);
          const factSql = factStatementsOf(scoped);
          const facts = async (name: string, statements: (typeof factSql)['orders']) => {
            await run(`Staging ${name} facts`, statements.stage, [input.source]);
            await run(`Indexing ${name} facts`, statements.index, []);
            await run(`Analyzing ${name} facts`, statements.analyze, []);
            if (statements.fetch) {
              await run(`Reading the scope's ${name} facts`, statements.fetch, [input.source]);
              await run(`Analyzing the scope's ${name} facts`, `analyze ${statements.old}`, []);
            }
            // The scope's lines in the warehouse before and after, for reconciliation.
            if (scoped && statements === factSql.orderLines) {
              const count = (lines: string, orders: string, facts: string) =>
                run<ScopeLineTotals>(
                  `Counting the lines of the scope`,
                  scopeLineTotals(lines, orders, facts, scopeLine),
                  [input.source],
                );
              linesBefore = (await count(OLD.orderLines, OLD.orders, statements.old)).rows;
              linesNow = (
                await count(SCOPED_CANONICAL.orderLines, SCOPED_CANONICAL.orders, statements.staged)
              ).rows;
            }
            const updated = (await run(`Updating ${name} facts`, statements.update)).rowCount ?? 0;
            const inserted =
              (await run(`Inserting ${name} facts`, statements.insert, [input.source, input.runId]))
                .rowCount ?? 0;
            const deleted =
              (await run(`Deleting stale ${name} facts`, statements.delete, [input.source])).rowCount ?? 0;
            return { inserted, updated, deleted };
          };
          const orderLines = await facts('order line', factSql.orderLines);
          const payments = await facts('payment', factSql.payments);
          const orders = await facts('order', factSql.orders);
          // Statistics of the facts as a full transform leaves them: a key-scoped one then joins its
          // few facts to them by key instead of hashing the whole table.
          if (!scoped)
            for (const table of ['core.fact_order_line', 'core.fact_payment', 'core.fact_order'])
              await run(`Analyzing ${table}`, `analyze ${table}`, []);
          const scopeLines: ScopeLines | undefined = scoped
            ? {
                orders: scopeKeys!.orders,
                changedLines: scopeKeys!.orderLines,
                before: linesBefore,
                now: linesNow,
              }
            : undefined;
          const changedDays = scoped
            ? (
                await client.query<{ day: string }>(
                  `select day from pg_temp.cartflow_days union select '(no date)' order by 1`,
                )
              ).rows.map((r) => r.day)
            : undefined;
          // The scope's canonical rows back where every other reader finds them.
          if (scoped) {
            for (const entity of ['orders', 'products'] as const)
              await client.query(`drop view ${allCanonicalOf(entity, true)}`);
            for (const entity of ENTITY_ORDER)
              await run(
                `Writing back canonical ${entity} of the scope`,
                `insert into ${CANONICAL_TABLES[entity]} select * from ${SCOPED_CANONICAL[entity]}`,
                [],
              );
          }
          for (const name of overlaid.keys()) await client.query(`drop view pg_temp.${ident(name)}`);
          await recordTransform(
            client,
            source.name,
            inputs,
            input.runId,
            counts.rows,
            plan.path === 'scoped' ? { after: plan.after, days: changedDays!, lines: scopeLines } : undefined,
          );
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
            stepsMs,
            path:
              plan.path === 'scoped'
                ? {
                    kind: 'scoped',
                    reason: `${plan.changed.map((c) => `${c.rows.toLocaleString('en-US')} changed ${c.table}`).join(', ') || 'no changed rows'}`,
                  }
                : { kind: 'full', reason: plan.reason },
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
