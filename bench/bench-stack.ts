/**
 * What a benchmark runs cartflow's own processes against, under a temporary home: an embedded Postgres
 * with the shop and warehouse databases migrated, a scratch Temporal with the search attributes, and a
 * real SMTP sink; and `cartflow server` alone in its process with bench/process-probe.ts preloaded.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../lib/embedded/postgres';
import { findFreePort, waitForPort } from '../lib/embedded/ports';
import { startSmtpSink } from '../lib/embedded/smtp';
import { startScratchTemporal } from '../lib/embedded/temporal';
import { migrateDatabase } from '../lib/migrate';
import { ensureSearchAttributes } from '../lib/temporal';
import { startCartflow } from './worker-process';

const projectRoot = path.resolve(__dirname, '..');

export interface BenchStack {
  home: string;
  postgres: EmbeddedPostgresHandle;
  client: Client;
  /** The environment for cartflow's commands: the services above, the ingest token and an HTTP port. */
  env: Record<string, string>;
  httpPort: number;
  /** Stops the services and removes the home; the caller stops its own processes and pools first. */
  stop: () => Promise<void>;
}

export async function startBenchStack(name: string, ingestToken: string): Promise<BenchStack> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `cartflow-bench-${name}-`));
  fs.chmodSync(home, 0o755);
  const stops: (() => Promise<unknown>)[] = [async () => fs.rmSync(home, { recursive: true, force: true })];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step();
  };
  try {
    const postgres = await startEmbeddedPostgres({
      dir: path.join(home, 'postgres'),
      port: await findFreePort(),
      databases: ['shop', 'warehouse'],
      logFile: path.join(home, 'postgres.log'),
    });
    stops.push(() => postgres.stop());
    const temporal = await startScratchTemporal(home);
    stops.push(() => temporal.stop());
    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());
    await ensureSearchAttributes(connection, 'default');
    const smtp = await startSmtpSink({ dir: path.join(home, 'mail'), port: await findFreePort() });
    stops.push(() => smtp.stop());
    await migrateDatabase(postgres.url('shop'), 'shop');
    await migrateDatabase(postgres.url('warehouse'), 'warehouse');
    const httpPort = await findFreePort();
    const env = {
      CARTFLOW_HOME: path.join(home, 'cartflow'),
      CARTFLOW_WAREHOUSE_URL: postgres.url('warehouse'),
      CARTFLOW_SHOP_URL: postgres.url('shop'),
      TEMPORAL_ADDRESS: temporal.address,
      SMTP_URL: smtp.url,
      CARTFLOW_INGEST_TOKEN: ingestToken,
      CARTFLOW_HTTP_PORT: String(httpPort),
    };
    const client = new Client({ connection, namespace: 'default' });
    return { home, postgres, client, env, httpPort, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * `cartflow server` in a process of its own with the probe preloaded; `probeFile` is where it writes
 * its figures (read them with serverProbe). Resolves once it listens.
 */
export async function startProbedServer(
  stack: BenchStack,
  env: Record<string, string> = stack.env,
): Promise<{ server: ChildProcess; probeFile: string }> {
  const probeFile = path.join(stack.home, 'server-probe.json');
  const server = await startCartflow(
    { ...env, CARTFLOW_PROBE_FILE: probeFile },
    ['server'],
    'The HTTP server is listening',
    ['--import', path.join(projectRoot, 'bench/process-probe.ts')],
  );
  await waitForPort(stack.httpPort, 30_000, 'cartflow server');
  return { server, probeFile };
}
