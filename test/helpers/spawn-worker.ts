import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type pg from 'pg';

const projectRoot = path.resolve(__dirname, '../..');

/** A worker in a process of its own (test/helpers/worker-process.ts), for tests that kill it. */
export type WorkerProcess = ChildProcess & {
  /** What it wrote to stderr so far: its JSON log lines. */
  logs(): string;
};

/** Starts a worker in a child process and resolves once it polls; `env` carries CARTFLOW_TEST_WORKER. */
export function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(projectRoot, 'test/helpers/worker-process.ts')],
    { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    let errors = '';
    child.stdout!.on('data', (data: Buffer) => {
      output += data.toString();
      if (output.includes('worker ready')) resolve(Object.assign(child, { logs: () => errors }));
    });
    child.stderr!.on('data', (data: Buffer) => {
      output += data.toString();
      errors += data.toString();
    });
    child.once('exit', (code) =>
      reject(new Error(`The worker process exited (${code}) before it was ready:\n${output}`)),
    );
  });
}

/**
 * SIGKILLs `worker` once a full load of `source`.`table` is partly committed — at least `rows` rows
 * in its chunks, not every chunk done — and waits for it to exit (at most a minute of polling).
 * Returns the rows committed when it was killed; 0 when the moment never came.
 */
export async function killMidLoad(
  worker: ChildProcess,
  warehouse: pg.Pool,
  at: { source: string; table: string; rows: number },
): Promise<number> {
  for (const started = Date.now(); Date.now() - started < 60_000;) {
    const { rows } = await warehouse.query<{ loaded: number; chunks: number; done: number }>(
      `select coalesce(sum(rows_loaded), 0)::int as loaded, count(*)::int as chunks,
              count(*) filter (where done)::int as done
         from ops.extract_chunks where source = $1 and table_name = $2`,
      [at.source, at.table],
    );
    if (rows[0].loaded >= at.rows && rows[0].done < rows[0].chunks) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGKILL');
      await exited;
      return rows[0].loaded;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return 0;
}
