import pg from 'pg';

// Postgres returns bigint and numeric as strings by default; counts and amounts here fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** A connection pool named after the database it serves, so `pg_stat_activity` shows who is who. */
export function createPool(url: string, applicationName: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, application_name: applicationName });
  // An idle client's error (e.g. the server restarted) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `work` in one transaction on one client; rolls back when it throws. */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The URL without its password, for logs and the health page. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
