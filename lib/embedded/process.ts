import { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** True when a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends a signal, waits for the process to go, and kills it if it does not within the grace period. */
export async function terminate(
  pid: number,
  signal: NodeJS.Signals = 'SIGINT',
  graceMs = 15_000,
): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
}

/** Stops a process a killed earlier run left behind, named by its pid file. */
export async function stopLeftover(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (Number.isInteger(pid) && pid > 0) await terminate(pid);
  fs.rmSync(pidFile, { force: true });
}

/** Appends a child's output to a log file, so the terminal stays readable. */
export function logChildTo(child: ChildProcess, file: string): void {
  const out = fs.createWriteStream(file, { flags: 'a' });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
}
