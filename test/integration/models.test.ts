import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ModelStepResult } from '../../contracts/model-summary';
import { SEGMENT_ACTIONS } from '../../ml/rfm';
import { simulateShop } from '../../simulator';
import { ModelsWorkflow } from '../../workflows';
import type { TestDeps } from '../helpers/deps';
import { runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';
import { testServices } from '../helpers/services';

const ROOT = path.resolve(__dirname, '../..');
const DATE = '2026-11-20';
const EARLIER = '2026-08-31';
/** The customer models this file checks; the others have tests of their own. */
const CHECKED_MODELS = ['rfm', 'clusters', 'growth', 'clv'] as const;

/** A line of core as the definitions in docs/models.md read it, fetched whole and reduced here in plain code. */
interface Line {
  customer_id: string;
  order_id: string;
  day: string;
  /** net_amount in millionths, an integer: sums are exact, so equal revenues tie as in numeric. */
  amount: number;
  status: string;
}

const dayNumber = (day: string) => Date.parse(`${day}T00:00:00Z`) / 86_400_000;

/** The RFM definition of docs/models.md, computed independently of ml/rfm.ts and the activity's SQL. */
function expectedRfm(lines: Line[], asOf: string) {
  const customers = new Map<string, { orders: Set<string>; last: number; monetary: number }>();
  for (const l of lines) {
    if (l.day > asOf || l.status === 'cancelled') continue;
    const c = customers.get(l.customer_id) ?? { orders: new Set(), last: -Infinity, monetary: 0 };
    c.monetary += l.amount;
    if (l.status !== 'returned') {
      c.orders.add(l.order_id);
      c.last = Math.max(c.last, dayNumber(l.day));
    }
    customers.set(l.customer_id, c);
  }
  const rows = [...customers]
    .filter(([, c]) => c.orders.size > 0)
    .map(([id, c]) => ({
      id,
      recency: dayNumber(asOf) - c.last,
      frequency: c.orders.size,
      monetary: c.monetary,
    }));
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const score = (key: 'recency' | 'frequency' | 'monetary', descending: boolean) => {
    const sorted = [...rows].sort((a, b) => (descending ? b[key] - a[key] : a[key] - b[key]) || byId(a, b));
    return new Map(sorted.map((row, i) => [row.id, 1 + Math.floor((5 * i) / sorted.length)]));
  };
  const r = score('recency', true);
  const f = score('frequency', false);
  const m = score('monetary', false);
  // The table, row by row: [R scores, F scores, segment].
  const table: [number[], number[], string][] = [
    [[1, 2], [1, 2], 'Hibernating'],
    [[1, 2], [3, 4], 'At Risk'],
    [[1, 2], [5], "Can't Lose"],
    [[3], [1, 2], 'About to Sleep'],
    [[3], [3], 'Need Attention'],
    [[3, 4], [4, 5], 'Loyal Customers'],
    [[4], [1], 'Promising'],
    [[5], [1], 'New Customers'],
    [[4, 5], [2, 3], 'Potential Loyalists'],
    [[5], [4, 5], 'Champions'],
  ];
  return rows.map((row) => {
    const rs = r.get(row.id)!;
    const fs = f.get(row.id)!;
    const segment = table.filter(([rr, ff]) => rr.includes(rs) && ff.includes(fs)).map(([, , s]) => s);
    if (segment.length !== 1)
      throw new Error(`the segment table covers R ${rs} F ${fs} ${segment.length} times`);
    return {
      customer_id: row.id,
      recency_days: row.recency,
      frequency: row.frequency,
      r: rs,
      f: fs,
      m: m.get(row.id)!,
      segment: segment[0],
    };
  });
}

/** Customer growth of docs/models.md, by plain month arithmetic over each customer's active months. */
function expectedGrowth(lines: Line[], asOf: string, churnMonths: number) {
  const monthIndex = (day: string) => Number(day.slice(0, 4)) * 12 + Number(day.slice(5, 7)) - 1;
  const active = new Map<string, Set<number>>();
  for (const l of lines) {
    if (l.day > asOf || l.status === 'cancelled' || l.status === 'returned') continue;
    const months = active.get(l.customer_id) ?? new Set<number>();
    months.add(monthIndex(l.day));
    active.set(l.customer_id, months);
  }
  const last = monthIndex(asOf);
  const first = Math.min(...[...active.values()].flatMap((s) => [...s]));
  const out = new Map<number, { active: number; new: number; churned: number; regained: number }>();
  for (let m = first; m <= last; m++) out.set(m, { active: 0, new: 0, churned: 0, regained: 0 });
  for (const months of active.values()) {
    const sorted = [...months].sort((a, b) => a - b);
    sorted.forEach((m, i) => {
      const row = out.get(m)!;
      row.active++;
      if (i === 0) row.new++;
      // Active in m − N and in none of m − N + 1 … m: churned in m.
      const churnMonth = m + churnMonths;
      const next = sorted[i + 1];
      if (churnMonth <= last && (next === undefined || next > churnMonth)) out.get(churnMonth)!.churned++;
      if (i > 0 && m - sorted[i - 1] > churnMonths) row.regained++;
    });
  }
  return [...out].map(([m, row]) => ({
    month: `${Math.floor(m / 12)}-${String((m % 12) + 1).padStart(2, '0')}-01`,
    ...row,
    net_growth: row.new + row.regained - row.churned,
  }));
}

describe('the customer models in the daily pipeline', () => {
  let stack: PipelineStack;
  let deps: TestDeps;
  let lines: Line[];
  let models: ModelStepResult[];

  beforeAll(async () => {
    stack = await startPipelineStack('models');
    deps = stack.deps;
    await simulateShop(stack.shop, { customers: 1500, days: 400, seed: 11, endDate: DATE });
    const result = await runDailyPipeline(stack.worker, {
      date: DATE,
      modelTaskQueue: stack.worker.taskQueues.ml,
      models: [...CHECKED_MODELS],
    });
    models = result.summary.models ?? [];
    ({ rows: lines } = await deps.warehouse.query<Line>(
      `select c.customer_id, f.order_id, to_char(d.date, 'YYYY-MM-DD') as day, round(f.net_amount * 1000000)::float8 as amount, f.status
         from core.fact_order_line f
         join core.dim_customer c using (customer_key)
         join core.dim_date d using (date_key)
        where f.customer_key <> 0`,
    ));
  });

  afterAll(() => stack?.stop());

  it('fits every model on the ml queue after the star schema, each recorded in ops.model_versions', async () => {
    expect(models.map((m) => [m.model, m.status])).toEqual([
      ['rfm', 'succeeded'],
      ['clusters', 'succeeded'],
      ['growth', 'succeeded'],
      ['clv', 'succeeded'],
    ]);
    const { rows } = await deps.warehouse.query(
      `select model, status, backend, training_rows > 0 as trained, output_rows, code_version ~ '^\\d+\\.\\d+\\.\\d+' as versioned
         from ops.model_versions where as_of = $1 order by model`,
      [DATE],
    );
    expect(rows).toEqual([
      expect.objectContaining({
        model: 'clusters',
        status: 'succeeded',
        backend: expect.stringMatching(/^(wasm|tensorflow)$/),
        trained: true,
        versioned: true,
      }),
      expect.objectContaining({ model: 'clv', status: 'succeeded', backend: 'float64-js', trained: true }),
      expect.objectContaining({ model: 'growth', status: 'succeeded', backend: 'sql', trained: true }),
      expect.objectContaining({ model: 'rfm', status: 'succeeded', backend: 'js', trained: true }),
    ]);
    for (const step of models)
      expect(step.outputRows).toBe(rows.find((r) => r.model === step.model)?.output_rows);
  });

  const martRfm = async (asOf: string) =>
    (
      await deps.warehouse.query(
        `select customer_id, recency_days, frequency, r_score as r, f_score as f, m_score as m, segment
           from mart.rfm where as_of = $1 order by customer_id`,
        [asOf],
      )
    ).rows;

  it('scores RFM and segments exactly as the definition, computed independently', async () => {
    const expected = expectedRfm(lines, DATE).sort((a, b) => (a.customer_id < b.customer_id ? -1 : 1));
    expect(expected.length).toBeGreaterThan(500);
    expect(await martRfm(DATE)).toEqual(expected);
    const sizes = await deps.warehouse.query<{ segment: string; n: number; action: string }>(
      `select segment, count(*)::int as n, min(action) as action from mart.rfm where as_of = $1 group by 1`,
      [DATE],
    );
    expect(sizes.rows.length).toBeGreaterThanOrEqual(8);
    for (const s of sizes.rows) expect(s.action.length).toBeGreaterThan(20);
  });

  it('counts new, churned, regained and active customers per month as defined', async () => {
    const { rows } = await deps.warehouse.query(
      `select to_char(month, 'YYYY-MM-DD') as month, active, new, churned, regained, net_growth
         from mart.growth where as_of = $1 order by month`,
      [DATE],
    );
    expect(rows).toEqual(expectedGrowth(lines, DATE, 2));
    expect(rows.some((r) => r.churned > 0) && rows.some((r) => r.regained > 0)).toBe(true);
  });

  it('clusters every scored customer, with k chosen by silhouette from 2..10 and unique names', async () => {
    const { rows } = await deps.warehouse.query(
      `select (select count(*)::int from mart.clusters where as_of = $1) as clustered,
              (select count(*)::int from mart.rfm where as_of = $1) as scored,
              (select sum(customers)::int from mart.cluster_centroids where as_of = $1) as sized,
              (select count(distinct cluster_name)::int from mart.cluster_centroids where as_of = $1) as names,
              (select metrics from ops.model_versions where model = 'clusters' and as_of = $1) as metrics`,
      [DATE],
    );
    const [row] = rows;
    expect(row.clustered).toBe(row.scored);
    expect(row.sized).toBe(row.scored);
    expect(row.names).toBe(row.metrics.k);
    expect(row.metrics.candidates.map((c: { k: number }) => c.k)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const best = Math.max(...row.metrics.candidates.map((c: { silhouette: number }) => c.silhouette));
    expect(row.metrics.silhouette).toBe(best);
  });

  it('gives every customer a probability alive, expected purchases and a lifetime value', async () => {
    const { rows } = await deps.warehouse.query(
      `select count(*)::int as customers,
              count(*) filter (where probability_alive between 0 and 1 and expected_purchases >= 0 and clv >= 0)::int as sane,
              count(*) filter (where frequency = 0 and probability_alive = 1)::int as one_timers_alive,
              (select count(*)::int from mart.rfm where as_of = $1) as scored
         from mart.clv where as_of = $1`,
      [DATE],
    );
    expect(rows[0].customers).toBe(rows[0].scored);
    expect(rows[0].sane).toBe(rows[0].customers);
    // BG/NBD: a customer without a repeat purchase cannot have dropped out yet.
    expect(rows[0].one_timers_alive).toBeGreaterThan(0);
  });

  it('uses only facts up to the date: an earlier date gives that day’s RFM and keeps both', async () => {
    const result = await runDailyPipeline(stack.worker, {
      date: EARLIER,
      modelTaskQueue: stack.worker.taskQueues.ml,
      models: [...CHECKED_MODELS],
    });
    expect(result.summary.models?.every((m) => m.status === 'succeeded')).toBe(true);
    const expected = expectedRfm(lines, EARLIER).sort((a, b) => (a.customer_id < b.customer_id ? -1 : 1));
    expect(await martRfm(EARLIER)).toEqual(expected);
    expect((await martRfm(DATE)).length).toBeGreaterThan(expected.length);
  });

  it('fails only the models a bad fact breaks, with a clear error, and leaves their last good rows', async () => {
    const before = await deps.warehouse.query(
      `select version_id, count(*)::int as n from mart.rfm where as_of = $1 group by 1`,
      [DATE],
    );
    await deps.warehouse.query(
      `insert into core.fact_order_line (source, order_line_id, order_id, date_key, placed_at, customer_key, product_key,
                                         quantity, unit_price, discount, net_amount, status, run_id)
       select f.source, 'nan-line', 'nan-order', f.date_key, f.placed_at, f.customer_key, f.product_key,
              1, 'NaN', 0, 'NaN', 'paid', 'test'
         from core.fact_order_line f
        where f.customer_key <> 0 and f.date_key <= $1 and f.status not in ('cancelled', 'returned')
          -- a repeat purchase day, so that the lifetime value's mean repeat spend reads it too
          and f.date_key > (select min(g.date_key) from core.fact_order_line g
                             where g.customer_key = f.customer_key and g.status not in ('cancelled', 'returned'))
        limit 1`,
      [Number(DATE.replace(/-/g, ''))],
    );
    try {
      // The models step alone: a daily run would first rebuild core from the shop and drop the line.
      const steps = await stack.worker.client.workflow.execute(ModelsWorkflow, {
        workflowId: `models-test-${Date.now()}`,
        taskQueue: stack.worker.taskQueues.etl,
        args: [{ date: DATE, taskQueue: stack.worker.taskQueues.ml, models: [...CHECKED_MODELS] }],
      });
      const status = Object.fromEntries(steps.map((m) => [m.model, m]));
      expect(status.growth.status).toBe('succeeded');
      for (const model of ['rfm', 'clusters', 'clv']) {
        expect(status[model].status).toBe('failed');
        expect(status[model].error).toMatch(
          /^The \w+ model for 2026-11-20 failed: \w+ of customer \S+ \(source shop\) is not a finite number \(NaN\): find the order line/,
        );
      }
      const after = await deps.warehouse.query(
        `select version_id, count(*)::int as n from mart.rfm where as_of = $1 group by 1`,
        [DATE],
      );
      expect(after.rows).toEqual(before.rows);
      const failed = await deps.warehouse.query(
        `select model from ops.model_versions where as_of = $1 and status = 'failed' and error like 'The % model for ${DATE} failed:%' order by model`,
        [DATE],
      );
      expect(failed.rows.map((r) => r.model)).toEqual(['clusters', 'clv', 'rfm']);
    } finally {
      await deps.warehouse.query(`delete from core.fact_order_line where order_line_id = 'nan-line'`);
    }
  });

  it('prints a model with `cartflow models show` and streams a mart with `cartflow export`', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-models-cli-'));
    const cartflow = (...args: string[]) =>
      spawnSync(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'cli/main.ts'), ...args], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          CARTFLOW_HOME: home,
          CARTFLOW_WAREHOUSE_URL: stack.databases.warehouseUrl,
          CARTFLOW_SHOP_URL: stack.databases.shopUrl,
          TEMPORAL_ADDRESS: testServices().temporalAddress,
          SMTP_URL: 'smtp://127.0.0.1:1',
        },
        encoding: 'utf8',
        timeout: 120_000,
      });
    try {
      const shown = cartflow('models', 'show', 'clusters', '--date', DATE, '--json');
      expect(shown.stderr).toBe('');
      const version = JSON.parse(shown.stdout);
      expect(version).toMatchObject({ model: 'clusters', as_of: DATE, status: 'succeeded' });
      expect(typeof version.k).toBe('number');
      expect(typeof version.inertia).toBe('number');
      expect(typeof version.silhouette).toBe('number');

      const readable = cartflow('models', 'show', 'clv');
      expect(readable.stdout).toMatch(/BG\/NBD \(time in weeks\): r \d/);

      const listed = cartflow('models', 'list');
      expect(
        listed.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(/\s+/)[0]),
      ).toEqual(['clusters', 'clv', 'growth', 'rfm']);

      const csv = cartflow('export', 'rfm', '--date', EARLIER, '--format', 'csv');
      const csvLines = csv.stdout.trim().split('\n');
      expect(csvLines[0]).toBe(
        'as_of,source,customer_id,recency_days,frequency,monetary,r_score,f_score,m_score,rfm_cell,segment,action,version_id',
      );
      const jsonl = cartflow(
        'export',
        'mart.rfm',
        '--date',
        EARLIER,
        '--format',
        'jsonl',
        '--output',
        path.join(home, 'rfm.jsonl'),
      );
      expect(jsonl.status).toBe(0);
      const objects = fs
        .readFileSync(path.join(home, 'rfm.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(objects.length).toBe(csvLines.length - 1);
      expect(Object.keys(objects[0])).toEqual(csvLines[0].split(','));
      for (const o of objects)
        expect(o.action).toBe(SEGMENT_ACTIONS[o.segment as keyof typeof SEGMENT_ACTIONS]);

      const unknown = cartflow('export', 'nothing');
      expect(unknown.status).not.toBe(0);
      expect(unknown.stderr).toMatch(/"nothing" is not a mart: use one of rfm, clusters/);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
