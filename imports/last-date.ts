import type pg from 'pg';

/**
 * The last day in the imported data: the latest `lastDate` of the files imported into the registered
 * file sources (ops.imports), as `YYYY-MM-DD`, or undefined when none has been imported. What
 * `cartflow run daily --as-of` builds as of when it is given no date.
 */
export async function lastImportedDate(warehouse: pg.Pool): Promise<string | undefined> {
  const { rows } = await warehouse.query<{ last: string | null }>(
    `select max(i.summary->>'lastDate') as last
       from ops.imports i join ops.sources s on s.name = i.source
      where s.definition->'connection'->>'kind' = 'files'`,
  );
  return rows[0].last ?? undefined;
}
