import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

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
