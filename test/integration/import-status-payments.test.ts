import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImportRefused } from '../../imports/input';
import { importPayments } from '../../imports/payments';
import { importTransactions, type TransactionsOptions } from '../../imports/transactions';
import { DEMO_SHOP_SOURCE } from '../../sources/demo-shop';
import { saveSource } from '../../sources/registry';
import { formatImportSummary } from '../../cli/import';
import { formatSummary } from '../../contracts/pipeline-summary';
import { runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';

/**
 * A sales log with its orders' statuses and a payments file for the same source, imported as a new
 * user would, then built into core by a real daily run. Every expected figure is worked out by hand
 * from the two files below.
 */
describe('cartflow import transactions --status and cartflow import payments', () => {
  let stack: PipelineStack;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-status-payments-'));
  const sales = path.join(dir, 'till.csv');
  const payments = path.join(dir, 'till-payments.csv');
  fs.writeFileSync(
    sales,
    [
      'order,customer,date,product,qty,total,state',
      // Two identical rows of one order: one line of two units (--duplicates sum).
      'A1,c1,2026-10-01,p1,1,10.00,Completed',
      'A1,c1,2026-10-01,p1,1,10.00,Completed',
      'A2,c2,2026-10-02,p2,1,5.50,VOID',
      'A3,c1,2026-10-03,p1,1,7.25,Retour',
      'A4,c3,2026-10-04,p2,2,7.25,storno',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    payments,
    [
      'payment,order,payer,date,amount,kind,state',
      'PY1,A1,,2026-10-01,20.00,card,ok',
      // c2 pays for c1's order.
      'PY2,A3,c2,2026-10-03,7.25,card,ok',
      // A refund written as a positive amount with its status.
      'PY3,A3,,2026-10-05,7.25,card,refund',
      'PY4,A4,,2026-10-04,7.25,card,declined',
      '',
    ].join('\n'),
  );
  const salesOptions: TransactionsOptions = {
    file: sales,
    source: 'till',
    customer: 'customer',
    date: 'date',
    amount: 'total',
    order: 'order',
    product: 'product',
    quantity: 'qty',
    status: 'state',
    statusMap: 'retour=returned,storno=cancelled',
    duplicates: 'sum',
  };

  beforeAll(async () => {
    stack = await startPipelineStack('import_status_payments');
    await saveSource(stack.deps.warehouse, { ...DEMO_SHOP_SOURCE, enabled: false });
  });

  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const deps = () => ({ warehouse: stack.deps.warehouse, timezone: 'UTC' });

  it('refuses a status map onto no status of cartflow, and payments for a source that does not exist', async () => {
    await expect(importTransactions(deps(), { ...salesOptions, statusMap: 'retour=lost' })).rejects.toThrow(
      new ImportRefused(
        '--status-map: "retour" maps onto "lost", which is none of cartflow\'s statuses (placed, paid, shipped, cancelled, returned).',
      ),
    );
    await expect(importPayments(deps(), { file: payments, source: 'nowhere' })).rejects.toThrow(
      /There is no source nowhere: import its orders first/,
    );
    await expect(importPayments(deps(), { file: payments })).rejects.toThrow(/needs --source NAME/);
  });

  it("imports the orders' statuses and the payments, and prints money to 2 decimals", async () => {
    const imported = await importTransactions(deps(), salesOptions);
    expect(imported.loaded).toBe(5);
    expect(imported.facts).toMatchObject({ cancelled_rows: 2, returned_rows: 1, net_revenue: 40 });
    const printed = formatImportSummary(imported);
    expect(printed).toMatch(/net revenue 40\.00/);
    expect(printed).toMatch(/sales 40\.00/);

    const paid = await importPayments(deps(), {
      file: payments,
      source: 'till',
      payment: 'payment',
      customer: 'payer',
      method: 'kind',
      status: 'state',
    });
    expect(paid).toMatchObject({ loaded: 4, inserted: 4 });
    expect(paid.facts).toMatchObject({
      refund_rows: 1,
      failed_rows: 1,
      paid_amount: 27.25,
      refunded_amount: 7.25,
    });

    // Importing the sales again keeps the payments the source has.
    const again = await importTransactions(deps(), salesOptions);
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: 5 });
    const { rows } = await stack.deps.warehouse.query(
      `select definition from ops.sources where name = 'till'`,
    );
    expect(rows[0].definition.duplicates).toBe('sum');
    expect(rows[0].definition.mapping.payments).toMatch(/from payments/);
    expect(rows[0].definition.tables.map((t: { name: string }) => t.name)).toEqual([
      'transactions',
      'payments',
    ]);
  });

  it('builds core from them: statuses as mapped, repeated lines summed, payments by their payer, refunds as refunds', async () => {
    const result = await runDailyPipeline(stack.worker, { date: '2026-10-05' });
    const reconciliation = result.summary.reconciliations.find((r) => r.source === 'till')!;
    expect(reconciliation).toMatchObject({ mismatchedDays: 0, source_lines: 5, quarantined_lines: 0 });
    // amount ÷ quantity has 16 decimals in the warehouse; the summary shows money as money.
    const text = formatSummary(result.summary);
    expect(text).toMatch(/- source: 5 lines, revenue 40\.00\n/);
    expect(text).not.toMatch(/\d\.\d{3,}/);

    const { rows: orders } = await stack.deps.warehouse.query(
      `select order_id, status, line_count, item_quantity::float8 as units, net_amount::float8 as net,
              paid_amount::float8 as paid
         from core.fact_order where source = 'till' order by order_id`,
    );
    expect(orders).toEqual([
      { order_id: 'A1', status: 'paid', line_count: 1, units: 2, net: 20, paid: 20 },
      { order_id: 'A2', status: 'cancelled', line_count: 1, units: 1, net: 5.5, paid: 0 },
      { order_id: 'A3', status: 'returned', line_count: 1, units: 1, net: 7.25, paid: 0 },
      { order_id: 'A4', status: 'cancelled', line_count: 1, units: 2, net: 7.25, paid: 0 },
    ]);
    const { rows: paymentFacts } = await stack.deps.warehouse.query(
      `select p.payment_id, p.amount::float8 as amount, p.status, p.method, c.customer_id
         from core.fact_payment p join core.dim_customer c using (customer_key)
        where p.source = 'till' order by p.payment_id`,
    );
    expect(paymentFacts).toEqual([
      { payment_id: 'PY1', amount: 20, status: 'captured', method: 'card', customer_id: 'c1' },
      { payment_id: 'PY2', amount: 7.25, status: 'captured', method: 'card', customer_id: 'c2' },
      { payment_id: 'PY3', amount: -7.25, status: 'refunded', method: 'card', customer_id: 'c1' },
      { payment_id: 'PY4', amount: 7.25, status: 'failed', method: 'card', customer_id: 'c3' },
    ]);
  });
});
