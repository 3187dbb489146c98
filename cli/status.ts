import type { Config } from '../lib/config';
import { redactUrl } from '../lib/db';
import { isAlive } from '../lib/embedded/process';
import { readPlatformState } from '../lib/endpoints';

/** `cartflow status`: what runs and where, and what its health endpoint says. Exit code 1 when not up. */
export async function runStatus(config: Config): Promise<number> {
  const state = readPlatformState(config);
  if (!state || !isAlive(state.pid)) {
    process.stdout.write(`cartflow is not running under ${config.home}. Start it with "npm start".\n`);
    return 1;
  }
  const out: string[] = [`cartflow is running (pid ${state.pid}, since ${state.startedAt})`, ''];
  for (const p of state.processes) {
    out.push(
      `  ${p.name.padEnd(10)} pid ${String(p.pid ?? '-').padEnd(8)} port ${p.port ?? '-'}   ${p.pid && isAlive(p.pid) ? 'running' : 'NOT RUNNING'}`,
    );
  }
  const e = state.endpoints;
  out.push(
    '',
    `  API and dashboard  ${e.httpUrl}`,
    `  Temporal           ${e.temporalAddress}${e.temporalUiUrl ? `   (Web UI ${e.temporalUiUrl})` : ''}`,
  );
  out.push(
    `  SMTP               ${redactUrl(e.smtpUrl)}`,
    `  Warehouse          ${redactUrl(e.warehouseUrl)}`,
    `  Shop               ${redactUrl(e.shopUrl)}`,
    '',
  );
  let healthy = false;
  try {
    const response = await fetch(`${e.httpUrl}/health`, { signal: AbortSignal.timeout(5000) });
    const report = (await response.json()) as {
      status: string;
      components: Record<string, { up: boolean; detail: string }>;
    };
    healthy = report.status === 'up';
    out.push(`  health: ${report.status}`);
    for (const [name, c] of Object.entries(report.components))
      out.push(`    ${c.up ? 'up  ' : 'DOWN'} ${name.padEnd(10)} ${c.detail}`);
  } catch (error) {
    out.push(`  health: no answer from ${e.httpUrl}/health (${(error as Error).message})`);
  }
  process.stdout.write(out.join('\n') + '\n');
  return healthy ? 0 : 1;
}
