import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { createPool } from '../../lib/db';
import { sourcePipelineWorkflowId } from '../../contracts/names';
import { DailyPipelineWorkflow } from '../../workflows';
import { fillShop, tableDigest } from '../helpers/pipeline';
import { createTestDatabases, testServices, type TestDatabases } from '../helpers/services';
import { killMidLoad, startWorkerProcess } from '../helpers/spawn-worker';

/**
 * A worker killed with SIGKILL in the middle of loading a large table, then restarted: the run
 * completes, resuming after the last committed batch, and staging and the star schema equal the
 * source exactly — no row lost, none loaded twice.
 */
describe('the daily pipeline when its worker is killed mid-load', () => {
  let databases: TestDatabases;
  let warehouse: pg.Pool;
  let shop: pg.Pool;
  let connection: Connection;
  let client: Client;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    databases = await createTestDatabases('pipeline_kill');
    warehouse = createPool(databases.warehouseUrl, 'test', 2);
    shop = createPool(databases.shopUrl, 'test', 2);
    connection = await Connection.connect({ address: testServices().temporalAddress });
    client = new Client({ connection, namespace: 'default' });
  });

  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await connection?.close();
    await Promise.all([warehouse?.end(), shop?.end()]);
    await databases?.drop();
  });

  it('completes after a SIGKILL and a restart, with staging equal to the source', async () => {
    const { orderLines } = await fillShop(shop, { customers: 2_000, orders: 100_000, linesPerOrder: 4 });
    const taskQueue = `etl-kill-${crypto.randomBytes(4).toString('hex')}`;
    const env = {
      CARTFLOW_TEST_WORKER: JSON.stringify({
        temporalAddress: testServices().temporalAddress,
        taskQueue,
        warehouseUrl: databases.warehouseUrl,
        shopUrl: databases.shopUrl,
      }),
    };
    const first = await startWorkerProcess(env);
    children.push(first);

    const handle = await client.workflow.start(DailyPipelineWorkflow, {
      workflowId: `daily-kill-${crypto.randomUUID()}`,
      taskQueue,
      // Two chunks of order lines, each loaded in many batches; one chunk at a time.
      args: [
        {
          date: '2026-11-20',
          sizes: { chunkRows: 200_000, batchRows: 10_000 },
          loadConcurrency: 1,
          models: false,
        },
      ],
    });

    // Kill the worker once order lines are partly loaded: some batches committed, the load not done.
    const committedAtKill = await killMidLoad(first, warehouse, {
      source: 'shop',
      table: 'order_lines',
      rows: 50_000,
    });
    expect(committedAtKill).toBeGreaterThan(0);
    expect(first.signalCode).toBe('SIGKILL');
    const staged = await warehouse.query<{ n: number }>(
      `select count(*)::int as n from staging_shop.order_lines`,
    );
    expect(staged.rows[0].n).toBeLessThan(orderLines);

    const second = await startWorkerProcess(env);
    children.push(second);
    const result = await handle.result();
    second.kill('SIGTERM');

    expect(result.status).toBe('succeeded');
    const lines = result.summary.loads.find((l) => l.table === 'order_lines')!;
    expect(lines.rows).toBe(orderLines);
    expect(lines.notes).toContain('resumed after an interrupted attempt');

    // The shop enforces the key, so the staged copy has none of its own; no batch was loaded twice.
    const { rows: keys } = await warehouse.query<{
      constraints: number;
      rows: number;
      distinct_keys: number;
    }>(
      `select (select count(*)::int from pg_constraint
                where conrelid = 'staging_shop.order_lines'::regclass and contype = 'p') as constraints,
              count(*)::int as rows, count(distinct order_line_id)::int as distinct_keys
         from staging_shop.order_lines`,
    );
    expect(keys[0]).toEqual({ constraints: 0, rows: orderLines, distinct_keys: orderLines });

    // Staging equals the source exactly, and so do the facts (this shop has no dirt).
    for (const [table, key] of [
      ['order_lines', 'order_line_id'],
      ['orders', 'order_id'],
      ['customers', 'customer_id'],
    ] as const) {
      expect(await tableDigest(warehouse, `staging_shop.${table}`, key)).toEqual(
        await tableDigest(shop, table, key),
      );
    }
    const facts = await warehouse.query<{ n: number; revenue: string }>(
      `select count(*)::int as n, sum(net_amount)::text as revenue from core.fact_order_line`,
    );
    const source = await shop.query<{ revenue: string }>(
      `select sum(quantity * unit_price * (1 - discount))::text as revenue from order_lines`,
    );
    expect(facts.rows[0]).toEqual({ n: orderLines, revenue: source.rows[0].revenue });
    expect(result.summary.reconciliations[0].mismatchedDays).toBe(0);

    // The killed attempt's heartbeats had stopped, so Temporal retried the chunk: attempt 2 finished it.
    const history = await client.workflow
      .getHandle(`${sourcePipelineWorkflowId(taskQueue, 'shop')}-extract-${result.runId}`)
      .fetchHistory();
    const attempts = (history.events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
