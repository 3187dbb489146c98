import pg from 'pg';
import { readColumns, tableProblems, type StagedColumn } from './catalog';
import { CANONICAL_ENTITIES, type CanonicalEntity, type SourceDefinition } from '../sources/definition';

/**
 * Checks a source definition before anything is registered: every table exists at the source with
 * its key and cursor columns; every mapping runs there and returns the required columns; and every
 * mapping runs over what will be staged — exactly the tables the definition lists, with the columns
 * they take (checkMappingsAgainstStaging). Returns the problems found (none: good to register).
 */
export async function checkSourceAgainstDatabase(
  source: SourceDefinition,
  pool: pg.Pool,
  warehouse: pg.Pool,
): Promise<string[]> {
  const problems: string[] = [];
  const schema = source.connection.schema ?? 'public';
  const staged = new Map<string, StagedColumn[]>();
  const runsAtSource = new Set<CanonicalEntity>();
  const client = await pool.connect().catch((error: Error) => {
    throw new Error(`Cannot reach source ${source.name}: ${error.message}`, { cause: error });
  });
  try {
    for (const table of source.tables) {
      const columns = await readColumns(client, schema, table.name);
      problems.push(...tableProblems(table, columns, schema));
      if (!columns) continue;
      staged.set(
        table.name,
        table.columns ? columns.filter((c) => table.columns!.includes(c.name)) : columns,
      );
    }
    await client.query('begin read only');
    await client.query(`select set_config('search_path', $1, true)`, [pg.escapeIdentifier(schema)]);
    for (const entity of Object.keys(CANONICAL_ENTITIES) as CanonicalEntity[]) {
      const sql = source.mapping[entity];
      if (!sql) continue;
      try {
        await client.query('savepoint mapping');
        const { fields } = await client.query(`select * from (${sql}) m limit 0`);
        const returned = new Set(fields.map((f) => f.name));
        const missing = CANONICAL_ENTITIES[entity]
          .filter((c) => c.required && !returned.has(c.name))
          .map((c) => c.name);
        if (missing.length > 0) problems.push(`mapping.${entity} returns no ${missing.join(', ')}`);
        const unknown = [...returned].filter(
          (name) => !CANONICAL_ENTITIES[entity].some((c) => c.name === name),
        );
        if (unknown.length > 0)
          problems.push(`mapping.${entity} returns columns cartflow does not know: ${unknown.join(', ')}`);
        await client.query('release savepoint mapping');
        runsAtSource.add(entity);
      } catch (error) {
        await client.query('rollback to savepoint mapping');
        problems.push(`mapping.${entity} does not run: ${(error as Error).message}`);
      }
    }
    await client.query('rollback');
  } finally {
    client.release();
  }
  if (staged.size === source.tables.length)
    problems.push(...(await checkMappingsAgainstStaging(source, staged, warehouse, runsAtSource)));
  return problems;
}

/**
 * Runs each mapping (for no rows) over what a run will stage, in the warehouse where it will run: in a
 * transaction that is rolled back, one empty temporary table per listed table with the columns it
 * will be staged with, and nothing else on the search path. A mapping that reads a table the
 * definition does not list, or a column its `columns` leave out, fails here — where the source itself
 * would have let it pass, and a run would have failed, or read a stale staged copy.
 */
export async function checkMappingsAgainstStaging(
  source: SourceDefinition,
  staged: Map<string, StagedColumn[]>,
  warehouse: pg.Pool,
  entities: Iterable<CanonicalEntity>,
): Promise<string[]> {
  const problems: string[] = [];
  const client = await warehouse.connect();
  try {
    await client.query('begin');
    for (const [table, columns] of staged)
      await client.query(
        `create temporary table ${pg.escapeIdentifier(table)} (${columns
          .map((c) => `${pg.escapeIdentifier(c.name)} ${c.type}`)
          .join(', ')})`,
      );
    await client.query(`select set_config('search_path', 'pg_temp', true)`);
    for (const entity of entities) {
      try {
        await client.query('savepoint mapping');
        await client.query(`select * from (${source.mapping[entity]!}) m limit 0`);
        await client.query('release savepoint mapping');
      } catch (error) {
        await client.query('rollback to savepoint mapping');
        problems.push(stagedMappingProblem(source, entity, error));
      }
    }
  } finally {
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
  return problems;
}

/**
 * Why a mapping does not run over the staged tables, saying how to fix it: a table it reads that the
 * definition does not list, or a column its table's `columns` leave out.
 */
export function stagedMappingProblem(
  source: SourceDefinition,
  entity: CanonicalEntity,
  error: unknown,
): string {
  const message = (error as Error).message;
  const code = (error as { code?: string }).code;
  const listed = source.tables.map((t) => t.name).join(', ');
  const table =
    code === '42P01' ? /relation "(?:[^"]+\.)?([^"]+)" does not exist/.exec(message)?.[1] : undefined;
  if (table)
    return (
      `mapping.${entity} reads table ${table}, which is not among the tables of source ${source.name} (${listed}), ` +
      `so it is never staged: add it to tables, e.g. { "name": "${table}", "primaryKey": ["…"] }, or map without it`
    );
  const column = code === '42703' ? /column "?([^" ]+)"? does not exist/.exec(message)?.[1] : undefined;
  const narrowed = source.tables.filter((t) => t.columns).map((t) => t.name);
  if (column && narrowed.length > 0)
    return (
      `mapping.${entity} reads column ${column}, which is not staged: the columns listed for ${narrowed.join(', ')} ` +
      `leave it out; add it there (${message})`
    );
  return `mapping.${entity} does not run over the staged tables (${listed}): ${message}`;
}
