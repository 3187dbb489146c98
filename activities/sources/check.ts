import pg from 'pg';
import { readColumns } from '../extract/catalog';
import { CANONICAL_ENTITIES, type CanonicalEntity, type SourceDefinition } from './definition';

/**
 * Checks a source definition against the source itself, before anything is registered: every table
 * exists with its key and cursor columns, and every mapping runs there and returns the required
 * columns. Returns the problems found (none: good to register).
 */
export async function checkSourceAgainstDatabase(source: SourceDefinition, pool: pg.Pool): Promise<string[]> {
  const problems: string[] = [];
  const schema = source.connection.schema ?? 'public';
  const client = await pool.connect().catch((error: Error) => {
    throw new Error(`Cannot reach source ${source.name}: ${error.message}`, { cause: error });
  });
  try {
    for (const table of source.tables) {
      const columns = await readColumns(client, schema, table.name);
      if (!columns) {
        problems.push(`table ${schema}.${table.name} does not exist`);
        continue;
      }
      const names = new Set(columns.map((c) => c.name));
      for (const column of [
        ...table.primaryKey,
        ...(table.cursor ? [table.cursor] : []),
        ...(table.columns ?? []),
      ])
        if (!names.has(column)) problems.push(`table ${table.name} has no column ${column}`);
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
      } catch (error) {
        await client.query('rollback to savepoint mapping');
        problems.push(`mapping.${entity} does not run: ${(error as Error).message}`);
      }
    }
    await client.query('rollback');
  } finally {
    client.release();
  }
  return problems;
}
