import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config';

/** Where each service is, once the embedded ones have started: what every other command connects to. */
export interface Endpoints {
  warehouseUrl: string;
  shopUrl: string;
  temporalAddress: string;
  temporalNamespace: string;
  smtpUrl: string;
  httpUrl: string;
  temporalUiUrl: string | undefined;
  mailDir: string | undefined;
  ingestToken: string;
}

/** What `cartflow dev` writes under CARTFLOW_HOME while it runs, for `cartflow status` and other commands. */
export interface PlatformState {
  pid: number;
  startedAt: string;
  endpoints: Endpoints;
  /** Embedded processes and the ports they hold (none for the worker process). */
  processes: { name: string; pid: number | undefined; port?: number }[];
}

export function stateFile(config: Config): string {
  return path.join(config.home, 'state.json');
}

export function writePlatformState(config: Config, state: PlatformState): void {
  fs.mkdirSync(config.home, { recursive: true });
  fs.writeFileSync(stateFile(config), JSON.stringify(state, null, 2), { mode: 0o600 });
}

export function readPlatformState(config: Config): PlatformState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(config), 'utf8')) as PlatformState;
  } catch {
    return undefined;
  }
}

/**
 * The endpoints a command other than `cartflow dev` uses: each variable that is set wins; the rest
 * come from the running platform's state. Fails with what to do when neither is there.
 */
export function resolveEndpoints(config: Config): Endpoints {
  const running = readPlatformState(config)?.endpoints;
  const pick = <T>(explicit: T | undefined, fromState: T | undefined, variable: string): T => {
    if (explicit !== undefined) return explicit;
    if (fromState !== undefined) return fromState;
    throw new Error(
      `Nothing is running under ${config.home} and ${variable} is not set. Start the platform with "npm start", or set ${variable}.`,
    );
  };
  return {
    warehouseUrl: pick(config.warehouseUrl, running?.warehouseUrl, 'CARTFLOW_WAREHOUSE_URL'),
    shopUrl: pick(config.shopUrl, running?.shopUrl, 'CARTFLOW_SHOP_URL'),
    temporalAddress: pick(config.temporal.address, running?.temporalAddress, 'TEMPORAL_ADDRESS'),
    temporalNamespace: config.temporal.namespace,
    smtpUrl: pick(config.smtpUrl, running?.smtpUrl, 'SMTP_URL'),
    httpUrl: running?.httpUrl ?? `http://localhost:${config.httpPort}`,
    temporalUiUrl: running?.temporalUiUrl,
    mailDir: running?.mailDir,
    // Only the HTTP server needs it; `cartflow server` refuses to start without one.
    ingestToken: config.ingestToken ?? running?.ingestToken ?? '',
  };
}
