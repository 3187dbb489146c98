import crypto from 'node:crypto';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { createCliContext, type CliContext } from '../../cli/context';
import { runDailyFor } from '../../cli/run';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import { saveSource } from '../../sources/registry';
import { createLogger } from '../../lib/log';
import type { PipelineSummary } from '../../contracts/pipeline-summary';
import { testConfig } from '../helpers/config';
import { fillShop, runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';
import { testServices } from '../helpers/services';

/**
 * Issue 12, defect 3: one bad source must not stop the others. Beside the demo shop run two broken
 * sources: `dupshop`, whose customers table the source does not keep unique and which holds a key
 * twice (the staged copy's key cannot be built: 23505), and `badmap`, whose orders mapping reads a
 * column that does not exist. Before the fix, the first stopped every source's transform.
 */
describe('a daily run with one bad source among good ones', () => {
  let stack: PipelineStack;
  let context: CliContext;
  let orderLines: number;

  beforeAll(async () => {
    stack = await startPipelineStack('pipeline_isolation');
    ({ orderLines } = await fillShop(stack.shop, { customers: 200, orders: 600, linesPerOrder: 2 }));
    // The same shop copied without keys, and one customer twice.
    await stack.shop.query(`
      create schema dupshop;
      create table dupshop.customers as select * from public.customers;
      insert into dupshop.customers select * from public.customers where customer_id = 7;
      create table dupshop.products as select * from public.products;
      create table dupshop.orders as select * from public.orders;
      create table dupshop.order_lines as select * from public.order_lines;
      create table dupshop.payments as select * from public.payments;`);
    const url = stack.databases.shopUrl;
    await saveSource(stack.deps.warehouse, {
      ...DEMO_SHOP_SOURCE,
      name: 'dupshop',
      connection: { kind: 'postgres', url, schema: 'dupshop' },
    });
    await saveSource(stack.deps.warehouse, {
      ...DEMO_SHOP_SOURCE,
      name: 'badmap',
      connection: { kind: 'postgres', url, schema: 'public' },
      mapping: {
        ...DEMO_SHOP_SOURCE.mapping,
        orders: `select order_id, customer_id, status, placed_on as placed_at from orders`,
      },
    });
    context = createCliContext(
      testConfig({
        CARTFLOW_WAREHOUSE_URL: stack.databases.warehouseUrl,
        CARTFLOW_SHOP_URL: stack.databases.shopUrl,
        TEMPORAL_ADDRESS: testServices().temporalAddress,
        SMTP_URL: 'smtp://127.0.0.1:1',
      }),
      createLogger('warn'),
    );
  });

  afterAll(async () => {
    await context?.close();
    await stack?.stop();
  });

  it('lands the good source, names the bad ones with their step and error, and ends partial', async () => {
    const workflowId = `daily-isolation-${crypto.randomUUID()}`;
    const error = await runDailyPipeline(
      stack.worker,
      { date: '2026-11-20', models: false },
      workflowId,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Failed in Temporal (the UI's list, alerts), naming each failed source and step.
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause.type).toBe('SourcesFailed');
    expect(cause.message).toMatch(/Source badmap failed in transform: .*orders.*"placed_on" does not exist/);
    expect(cause.message).toMatch(
      /Source dupshop failed in extract: .*table customers: the staged rows are not unique on the primary key \(customer_id\)/,
    );
    expect(cause.message).toMatch(/the other sources landed/);

    const { rows } = await stack.deps.warehouse.query<{
      status: string;
      error: string;
      summary: PipelineSummary;
    }>(`select status, error, summary from ops.pipeline_runs order by started_at desc limit 1`);
    expect(rows[0].status).toBe('partial');
    expect(rows[0].error).toBe(cause.message);
    const summary = rows[0].summary;
    expect(summary.status).toBe('partial');
    expect(summary.failures?.map((f) => [f.source, f.step, f.type])).toEqual([
      ['badmap', 'transform', 'MappingFailed'],
      ['dupshop', 'extract', 'InvalidSourceDefinition'],
    ]);
    // The good source was transformed and reconciled as if alone; badmap got as far as its extract.
    expect(summary.transforms.map((t) => t.source)).toEqual(['shop']);
    expect(summary.reconciliations.map((r) => [r.source, r.mismatchedDays, r.source_lines])).toEqual([
      ['shop', 0, orderLines],
    ]);
    expect(new Set(summary.loads.map((l) => l.source))).toEqual(new Set(['shop', 'badmap']));
    const facts = await stack.deps.warehouse.query<{ source: string; n: number }>(
      `select source, count(*)::int as n from core.fact_order_line group by source`,
    );
    expect(facts.rows).toEqual([{ source: 'shop', n: orderLines }]);

    // The Temporal UI shows the same: the memo's one line and details name the failed sources.
    const description = await stack.worker.client.workflow.getHandle(workflowId).describe();
    expect(description.memo?.summary).toMatch(/^2026-11-20 partial: .*failed: badmap, dupshop/);
    expect(description.memo?.details).toMatch(/Failed sources[^\n]*\n- badmap, transform: /);
  });

  it('runs only the sources asked for, and says so when one does not exist', async () => {
    const only = await runDailyPipeline(stack.worker, {
      date: '2026-11-21',
      sources: ['shop'],
      models: false,
    });
    expect(only.status).toBe('succeeded');
    expect(new Set(only.summary.loads.map((l) => l.source))).toEqual(new Set(['shop']));
    expect(only.summary.reconciliations.map((r) => r.source)).toEqual(['shop']);

    const error = await runDailyPipeline(stack.worker, {
      date: '2026-11-21',
      sources: ['shop', 'nope'],
      models: false,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const cause = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidInput');
    expect(cause.message).toMatch(/No source named nope; the sources are: shop, badmap, dupshop/);
  });

  it('makes `cartflow run daily` fail naming the failed source, and `--source` run one alone', async () => {
    const partial = await runDailyFor(
      context,
      stack.worker.client,
      '2026-11-22',
      undefined,
      stack.worker.taskQueues.etl,
    );
    expect(partial.status).toBe('failed');
    expect(partial.summary?.status).toBe('partial');
    expect(partial.status === 'failed' && partial.error).toMatch(
      /^Source badmap failed in transform: .*; Source dupshop failed in extract/,
    );

    const one = await runDailyFor(
      context,
      stack.worker.client,
      '2026-11-23',
      undefined,
      stack.worker.taskQueues.etl,
      ['shop'],
    );
    expect(one.status).toBe('succeeded');
    expect(one.summary?.failures).toBeUndefined();
    expect(new Set(one.summary?.loads.map((l) => l.source))).toEqual(new Set(['shop']));
  });
});
