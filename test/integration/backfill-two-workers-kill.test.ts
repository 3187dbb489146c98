import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type pg from 'pg';
import { createPool } from '../../lib/db';
import { findFreePort } from '../../lib/embedded/ports';
import { dailyPipelineWorkflowId, sourcePipelineWorkflowId, TASK_QUEUES } from '../../contracts/names';
import { DailyPipelineWorkflow } from '../../workflows';
import { fillShop } from '../helpers/pipeline';
import { createTestDatabases, testServices, type TestDatabases } from '../helpers/services';

const ROOT = path.resolve(__dirname, '../..');
const DATES = [
  '2026-11-14',
  '2026-11-15',
  '2026-11-16',
  '2026-11-17',
  '2026-11-18',
  '2026-11-19',
  '2026-11-20',
];
const PARALLEL = 2;

interface CliProcess {
  child: ChildProcess;
  output: () => string;
}

/** `cartflow <args>` as its own process: node running cli/main.ts through tsx, so its pid is the CLI's own. */
function startCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
  return { child, output: () => output };
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  processes: CliProcess[] = [],
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const p of processes)
      if (p.child.exitCode !== null || p.child.signalCode !== null)
        throw new Error(
          `${what}: a cartflow process exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.output()}`,
        );
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs / 1000} s\n${processes.map((p) => p.output()).join('\n')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Greets like an SMTP server, so that the server's /health finds every component up. */
function smtpGreeter(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end('220 test ESMTP\r\n');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * Production's layout (issue 17): `cartflow server` and two `cartflow worker` processes, each its own
 * process over the same warehouse, shop and Temporal (the cluster of `npm run test:production`, or the
 * dev server), both workers on the standard task queues. A backfill of seven days runs, two dates at a
 * time as `cartflow backfill` runs them, and one worker is SIGKILLed while it holds a chunk of the
 * extract it has heartbeated for. The other worker finishes it: every date succeeds and reconciles,
 * and the facts per day equal the source's own lines and revenue — no line lost or loaded twice.
 */
describe('a backfill on two cartflow worker processes, one of them SIGKILLed', () => {
  let databases: TestDatabases;
  let warehouse: pg.Pool;
  let shop: pg.Pool;
  let connection: Connection;
  let client: Client;
  let smtp: net.Server;
  let home: string;
  const processes: CliProcess[] = [];
  let probing = false;

  beforeAll(async () => {
    databases = await createTestDatabases('backfill_kill');
    warehouse = createPool(databases.warehouseUrl, 'test', 2);
    shop = createPool(databases.shopUrl, 'test', 2);
    connection = await Connection.connect({ address: testServices().temporalAddress });
    client = new Client({ connection, namespace: 'default' });
    smtp = await smtpGreeter();
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-backfill-kill-'));
  });

  afterAll(async () => {
    probing = false;
    for (const { child } of processes)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await connection?.close();
    await Promise.all([warehouse?.end(), shop?.end()]);
    await databases?.drop();
    smtp?.close();
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  it('completes every date with the source’s lines and revenue per day, the server answering throughout', async () => {
    const started = Date.now();
    const { orderLines } = await fillShop(shop, {
      customers: 2_000,
      orders: 60_000,
      linesPerOrder: 4,
    });
    // Orders spread over the seven days (fillShop puts 60,000 orders a second apart, all on the last one).
    await shop.query(
      `update orders set placed_at = timestamptz '2026-11-21T00:00:00Z' - ((order_id * 7919) % $1::int + 1) * interval '1 second'`,
      [DATES.length * 86_400],
    );
    await shop.query('analyze orders');
    const httpPort = await findFreePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? home,
      CARTFLOW_HOME: home,
      CARTFLOW_WAREHOUSE_URL: databases.warehouseUrl,
      CARTFLOW_SHOP_URL: databases.shopUrl,
      TEMPORAL_ADDRESS: testServices().temporalAddress,
      SMTP_URL: `smtp://127.0.0.1:${(smtp.address() as net.AddressInfo).port}`,
      CARTFLOW_HTTP_PORT: String(httpPort),
      CARTFLOW_INGEST_TOKEN: 'backfill-kill-ingest-token',
      CARTFLOW_LOG_LEVEL: 'info',
    };
    const workers = [startCli(['worker'], env), startCli(['worker'], env)];
    const server = startCli(['server'], env);
    processes.push(...workers, server);
    for (const worker of workers)
      await waitFor(
        'cartflow worker polls',
        90_000,
        () => (worker.output().includes('Workers are running') ? true : undefined),
        [worker],
      );
    const health = async () => {
      const response = await fetch(`http://127.0.0.1:${httpPort}/health`);
      return { code: response.status, body: (await response.json()) as { status: string } };
    };
    await waitFor(
      'cartflow server answers /health',
      90_000,
      () =>
        health().then(
          (h) => (h.code === 200 ? h : undefined),
          () => undefined,
        ),
      [server],
    );
    const readyAt = Date.now();

    // The server is probed throughout the backfill.
    const probes: { code: number | string; status?: string }[] = [];
    probing = true;
    const prober = (async () => {
      while (probing) {
        probes.push(
          await health().then(
            (h) => ({ code: h.code, status: h.body.status }),
            (error: Error) => ({ code: error.message }),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();

    // The backfill, as `cartflow backfill --parallel 2` runs it (ids daily-<date>, the etl queue); small
    // chunks so that the first date's full load is several chunks the two workers share, no models.
    const handles = new Map<string, WorkflowHandleWithFirstExecutionRunId<typeof DailyPipelineWorkflow>>();
    let next = 0;
    const lane = async () => {
      const results = [];
      while (next < DATES.length) {
        const date = DATES[next++];
        const handle = await client.workflow.start(DailyPipelineWorkflow, {
          workflowId: dailyPipelineWorkflowId(date),
          taskQueue: TASK_QUEUES.etl,
          args: [{ date, timezone: 'UTC', models: false, sizes: { chunkRows: 40_000, batchRows: 4_000 } }],
        });
        handles.set(date, handle);
        results.push(await handle.result());
      }
      return results;
    };
    let settled = false;
    const backfill = Promise.all(Array.from({ length: PARALLEL }, lane))
      .then((r) => r.flat())
      .finally(() => (settled = true));
    backfill.catch(() => undefined);

    // The victim: whichever worker first runs a chunk of the extract that it has heartbeated for
    // (two seconds into its batches); the other worker is the survivor.
    const identityOf = (p: CliProcess) => `${p.child.pid}@`;
    const extractId = (runId: string) =>
      `${sourcePipelineWorkflowId(TASK_QUEUES.etl, 'shop')}-extract-${runId}`;
    const seen = new Set<string>();
    const held = await waitFor(
      'a worker holds a heartbeated extract chunk',
      120_000,
      async () => {
        if (settled)
          throw new Error(
            `The backfill ended before a worker was seen holding a chunk: ${[...seen].join('; ')}`,
          );
        for (const handle of handles.values()) {
          const extract = client.workflow.getHandle(extractId(handle.firstExecutionRunId));
          const description = await extract.describe().catch(() => undefined);
          for (const a of description?.raw.pendingActivities ?? []) {
            seen.add(
              `${a.activityType?.name} ${a.activityId} on ${a.lastWorkerIdentity || '-'}${a.lastHeartbeatTime ? ' heartbeated' : ''}`,
            );
            const worker = workers.find((w) => a.lastWorkerIdentity?.startsWith(identityOf(w)));
            if (a.activityType?.name === 'loadChunk' && a.lastHeartbeatTime && worker)
              return { workflowId: extract.workflowId, activityId: a.activityId, worker };
          }
        }
        return undefined;
      },
      workers,
    );
    const victim = held.worker;
    const survivor = workers.find((w) => w !== victim)!;
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await new Promise((resolve) =>
      victim.child.exitCode !== null || victim.child.signalCode !== null
        ? resolve(undefined)
        : victim.child.once('exit', resolve),
    );
    expect(victim.child.signalCode).toBe('SIGKILL');

    const results = await backfill;
    const doneAt = Date.now();
    probing = false;
    await prober;

    // Every date succeeded once, and reconciled with no day off.
    expect(results.map((r) => r.date).sort()).toEqual(DATES);
    expect(results.every((r) => r.status === 'succeeded')).toBe(true);
    for (const result of results) {
      expect(result.summary.reconciliations.map((r) => [r.source, r.mismatchedDays])).toEqual([['shop', 0]]);
    }
    const runs = await warehouse.query<{ date: string; status: string; n: number }>(
      `select to_char(pipeline_date, 'YYYY-MM-DD') as date, status, count(*)::int as n
         from ops.pipeline_runs group by 1, 2 order by 1`,
    );
    expect(runs.rows).toEqual(DATES.map((date) => ({ date, status: 'succeeded', n: 1 })));
    const loaded = results.flatMap((r) => r.summary.loads).filter((l) => l.table === 'order_lines');
    expect(loaded.reduce((sum, l) => sum + l.rows, 0)).toBe(orderLines);

    // The chunk the victim held was taken again after its heartbeats stopped, by the other worker.
    const history = await client.workflow.getHandle(held.workflowId).fetchHistory();
    const starts = (history.events ?? []).flatMap((e) => e.activityTaskStartedEventAttributes ?? []);
    const scheduled = new Map(
      (history.events ?? []).flatMap((e) =>
        e.activityTaskScheduledEventAttributes
          ? [[String(e.eventId), e.activityTaskScheduledEventAttributes.activityId ?? '']]
          : [],
      ),
    );
    const retried = starts.filter((s) => scheduled.get(String(s.scheduledEventId)) === held.activityId);
    expect(retried.map((s) => [(s.attempt ?? 1) >= 2, s.identity?.startsWith(identityOf(survivor))])).toEqual(
      [[true, true]],
    );

    // No key twice, in staging or in the facts; every line in exactly one fact.
    const keys = await warehouse.query<{
      staged: number;
      staged_keys: number;
      facts: number;
      fact_keys: number;
    }>(
      `select (select count(*)::int from staging_shop.order_lines) as staged,
              (select count(distinct order_line_id)::int from staging_shop.order_lines) as staged_keys,
              (select count(*)::int from core.fact_order_line where source = 'shop') as facts,
              (select count(distinct order_line_id)::int from core.fact_order_line where source = 'shop') as fact_keys`,
    );
    expect(keys.rows[0]).toEqual({
      staged: orderLines,
      staged_keys: orderLines,
      facts: orderLines,
      fact_keys: orderLines,
    });

    // Lines and revenue per day: the warehouse's facts against the shop's own.
    const perDay = await warehouse.query<{ day: string; lines: number; revenue: string }>(
      `select to_char(d.date, 'YYYY-MM-DD') as day, count(*)::int as lines, sum(f.net_amount)::text as revenue
         from core.fact_order_line f join core.dim_date d using (date_key)
        where f.source = 'shop' group by 1 order by 1`,
    );
    const sourcePerDay = await shop.query<{ day: string; lines: number; revenue: string }>(
      `select to_char(o.placed_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*)::int as lines,
              sum(l.quantity * l.unit_price * (1 - l.discount))::text as revenue
         from order_lines l join orders o using (order_id) group by 1 order by 1`,
    );
    expect(sourcePerDay.rows.map((r) => r.day)).toEqual(DATES);
    expect(perDay.rows).toEqual(sourcePerDay.rows);

    // The server stayed up and answered every probe, with every component up.
    expect(server.child.exitCode).toBeNull();
    expect(survivor.child.exitCode).toBeNull();
    expect(probes.length).toBeGreaterThan(5);
    expect(probes.filter((p) => p.code !== 200 || p.status !== 'up')).toEqual([]);
    expect((await health()).code).toBe(200);

    process.stderr.write(
      `backfill-two-workers-kill: processes ready in ${((readyAt - started) / 1000).toFixed(0)} s, ` +
        `victim killed ${((killedAt - readyAt) / 1000).toFixed(0)} s into the backfill, ` +
        `backfill of ${DATES.length} days done ${((doneAt - readyAt) / 1000).toFixed(0)} s after start, ` +
        `${probes.length} health probes answered 200\n`,
    );
  }, 300_000);
});
