import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cdnowDatasets } from '../helpers/cdnow';
import { runDailyPipeline, startPipelineStack, type PipelineStack } from '../helpers/pipeline';
import { testServices } from '../helpers/services';

const ROOT = path.resolve(__dirname, '../..');

/**
 * The published results, reproduced the way docs/models.md tells a user to: the CDNOW 1/10 sample
 * (2,357 customers, the public file lifetimes ships) imported with `cartflow import transactions`,
 * the daily pipeline run for the calibration period's last day, 1997-09-30, time in weeks.
 * Fader, Hardie & Lee (2005): r 0.243, α 4.414, a 0.793, b 2.426; Fader & Hardie (2013) Gamma-Gamma:
 * p 6.25, q 3.74, γ 15.44. Each must land within 1%.
 */
describe('the lifetime-value model on the CDNOW sample', () => {
  let stack: PipelineStack;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-cdnow-'));

  beforeAll(async () => {
    stack = await startPipelineStack('models_cdnow');
    const datasets = await cdnowDatasets();
    const imported = spawnSync(
      path.join(ROOT, 'node_modules/.bin/tsx'),
      [
        path.join(ROOT, 'cli/main.ts'),
        'import',
        'transactions',
        path.join(datasets, 'CDNOW_sample.txt'),
        '--no-header',
        '--customer',
        '2',
        '--date',
        '3',
        '--quantity',
        '4',
        '--amount',
        '5',
        '--source',
        'cdnow',
        '--json',
      ],
      {
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
      },
    );
    if (imported.status !== 0) throw new Error(`cartflow import failed: ${imported.stderr}`);
    expect(JSON.parse(imported.stdout)).toMatchObject({ rowsRead: 6919, loaded: 6919 });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('lands within 1% of every published BG/NBD and Gamma-Gamma parameter, for 2,357 customers', async () => {
    const result = await runDailyPipeline(stack.worker, { date: '1997-09-30', models: ['clv', 'rfm'] });
    const clv = result.summary.models?.find((m) => m.model === 'clv');
    expect(clv).toMatchObject({ status: 'succeeded', trainingRows: 2357 });
    const { rows } = await stack.deps.warehouse.query(
      `select parameters, metrics from ops.model_versions where model = 'clv' and as_of = '1997-09-30'`,
    );
    const { bgNbd, gammaGamma, timeUnit } = rows[0].parameters;
    expect(timeUnit).toBe('weeks');
    const published = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426, p: 6.25, q: 3.74, gamma: 15.44 };
    const fitted = { ...bgNbd, ...gammaGamma } as Record<string, number>;
    for (const [name, value] of Object.entries(published))
      expect({ name, relativeError: Math.abs(fitted[name] / value - 1) < 0.01 }).toEqual({
        name,
        relativeError: true,
      });
    expect(rows[0].metrics.repeatCustomers).toBe(946);
    // Point in time: purchases after 1997-09-30 (in the file up to 1998-06) are not seen.
    const seen = await stack.deps.warehouse.query(
      `select max(recency)::float8 as recency, max(age)::float8 as age from mart.clv where as_of = '1997-09-30'`,
    );
    expect(seen.rows[0].age).toBeCloseTo(272 / 7, 6);
    expect(seen.rows[0].recency).toBeLessThanOrEqual(272 / 7);
  }, 300_000);
});
