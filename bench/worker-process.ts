import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const projectRoot = path.resolve(__dirname, '..');

/** `cartflow worker --queue …` in a process of its own, so its memory can be read; resolves once it polls. */
export function startWorker(env: Record<string, string>, queues: string[]): Promise<ChildProcess> {
  return startCartflow(env, ['worker', '--queue', ...queues], 'Workers are running');
}

/**
 * A long-lived `cartflow …` command (e.g. `server`) in a process of its own; resolves once it logs `ready`.
 * `nodeArgs` go to node after tsx (e.g. `--import` of a probe).
 */
export function startCartflow(
  env: Record<string, string>,
  args: string[],
  ready: string,
  nodeArgs: string[] = [],
): Promise<ChildProcess> {
  const main = path.join(projectRoot, 'cli/main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, main, ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...env, CARTFLOW_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (data: Buffer) => {
      output += data.toString();
      if (output.includes(ready)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`cartflow ${args[0]} exited (${code}):\n${output}`)));
  });
}

/** SIGTERM, then SIGKILL after 15 s. */
export async function stopWorker(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Peak resident memory of a process in MB, from /proc (Linux). */
export function peakMemoryMb(pid: number | undefined): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
