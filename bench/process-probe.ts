/**
 * A probe preloaded into a measured process (`node --import tsx --import bench/process-probe.ts …`) by
 * `npm run bench:recommendations`: what the process's own event loop, garbage collector and CPU did
 * between two signals. On SIGUSR2 it writes the figures since the last SIGUSR2 (or since it started) as
 * one JSON object (ProcessProbe) to the file named by CARTFLOW_PROBE_FILE, written aside and renamed so
 * the reader never sees half of it, and starts counting again. It changes nothing in the process.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createHistogram, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

export interface ProcessProbe {
  /** Wall time covered, s. */
  seconds: number;
  /** CPU the process used (user + system), s, and as a share of one core. */
  cpuSeconds: number;
  cpuShare: number;
  /** Event-loop utilisation (0–1): the share of the time the loop was busy. */
  eventLoopUtilisation: number;
  /** Event-loop delay (ms): how late a 10 ms timer ran, by percentile (monitorEventLoopDelay). */
  eventLoopDelay: { p50: number; p99: number; max: number };
  /** Garbage collections: how many, their pauses in all and the longest (ms), and how many over 10 ms. */
  gc: { count: number; totalMs: number; maxMs: number; over10ms: number };
  /**
   * HTTP requests this process served: from the server's 'request' event (headers parsed) to the
   * answer's 'finish' (handed to the kernel), ms. What the server itself took, without the queues
   * before and after.
   */
  requests: { count: number; p50: number; p99: number; max: number };
}

/** Starts counting in this process; `take` returns the figures since the last take and starts again. */
export function startProbe(): { take: () => ProcessProbe } {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let gc = { count: 0, totalMs: 0, maxMs: 0, over10ms: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
      if (entry.duration > 10) gc.over10ms++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const served = createHistogram();
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (this: http.Server, event: string, ...args: unknown[]) {
    if (event === 'request') {
      const started = process.hrtime.bigint();
      (args[1] as http.ServerResponse).once('finish', () =>
        served.record(Math.max(1, Number(process.hrtime.bigint() - started))),
      );
    }
    return Reflect.apply(emit, this, [event, ...args]) as boolean;
  } as typeof emit;
  let since = { at: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
  const take = (): ProcessProbe => {
    const seconds = (performance.now() - since.at) / 1000;
    const cpu = process.cpuUsage(since.cpu);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const ms = (ns: number) => ns / 1e6;
    const figures: ProcessProbe = {
      seconds,
      cpuSeconds,
      cpuShare: cpuSeconds / seconds,
      eventLoopUtilisation: performance.eventLoopUtilization(since.elu).utilization,
      eventLoopDelay: {
        // The histogram counts from when the timer was due; a 10 ms resolution timer that ran on time reads 10.
        p50: Math.max(0, ms(delay.percentile(50)) - 10),
        p99: Math.max(0, ms(delay.percentile(99)) - 10),
        max: Math.max(0, ms(delay.max) - 10),
      },
      gc,
      requests: {
        count: served.count,
        p50: ms(served.percentile(50)),
        p99: ms(served.percentile(99)),
        max: ms(served.count === 0 ? 0 : served.max),
      },
    };
    delay.reset();
    served.reset();
    gc = { count: 0, totalMs: 0, maxMs: 0, over10ms: 0 };
    since = { at: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
    return figures;
  };
  return { take };
}

/** The figures of a process started with this probe, since the last call: it writes them on SIGUSR2. */
export async function serverProbe(server: ChildProcess, file: string): Promise<ProcessProbe> {
  fs.rmSync(file, { force: true });
  server.kill('SIGUSR2');
  for (let waited = 0; !fs.existsSync(file); waited += 10) {
    if (waited > 10_000) throw new Error('the probed process did not write its figures within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ProcessProbe;
}

const file = process.env.CARTFLOW_PROBE_FILE;
if (file) {
  const probe = startProbe();
  process.on('SIGUSR2', () => {
    fs.writeFileSync(`${file}.part`, JSON.stringify(probe.take()));
    fs.renameSync(`${file}.part`, file);
  });
}
