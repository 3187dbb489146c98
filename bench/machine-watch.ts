/**
 * What the whole machine does while a benchmark runs: its busy share of all cores, and the processes
 * that used the most CPU meanwhile, ours and others' alike (from /proc; Linux).
 */
import fs from 'node:fs';

/** CPU ticks of every process now (utime + stime from /proc/<pid>/stat), with its command line. */
function processTicks(): Map<number, { ticks: number; command: string }> {
  const ticks = new Map<number, { ticks: number; command: string }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const command = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      ticks.set(Number(entry), { ticks: Number(fields[11]) + Number(fields[12]), command });
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks;
}

/** Busy and total jiffies of the whole machine (the first line of /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const [, ...values] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = values.map(Number);
  const idle = n[3] + n[4]; // idle and iowait
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** How often the watch reads every process's CPU, so that one that ends before `stop()` still counts. */
const SAMPLE_MS = 500;

/**
 * What the machine did between the call and the returned function's call: its busy share of all
 * cores, and the processes that used the most CPU meanwhile (cores in use, over the interval), ours
 * and others' alike. Processes are read every SAMPLE_MS, so one that ended meanwhile counts up to its
 * last reading; one that started meanwhile counts from zero.
 */
export function machineWatch() {
  const started = { machine: machineTicks(), at: Date.now() };
  const first = processTicks();
  const last = new Map(first);
  const sample = () => {
    for (const [pid, p] of processTicks()) {
      const before = last.get(pid);
      // A pid seen again with fewer ticks is another process: count it from zero.
      if (before && p.ticks < before.ticks) first.delete(pid);
      last.set(pid, p);
    }
  };
  const timer = setInterval(sample, SAMPLE_MS);
  return () => {
    clearInterval(timer);
    sample();
    const machine = machineTicks();
    const seconds = (Date.now() - started.at) / 1000;
    const hz = 100; // CLK_TCK on Linux
    const top = [...last]
      .map(([pid, p]) => ({
        pid,
        command: p.command,
        cores: (p.ticks - (first.get(pid)?.ticks ?? 0)) / hz / seconds,
      }))
      .filter((p) => p.cores >= 0.02)
      .sort((a, b) => b.cores - a.cores)
      .slice(0, 6);
    return {
      busy: (machine.busy - started.machine.busy) / (machine.total - started.machine.total),
      top,
    };
  };
}
