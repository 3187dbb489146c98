import { createActivities, createQueueActivities } from '../../activities';
import { createPool } from '../../lib/db';
import { createMailer } from '../../lib/mailer';
import { testConfig } from '../helpers/config';

/** What each queue's workflows call (workflows/daily-pipeline.ts and the rest, models.ts, cart.ts). */
const CALLED = {
  etl: [
    'startPipelineRun',
    'finishPipelineRun',
    'listPipelineSources',
    'planExtract',
    'loadChunk',
    'loadIncremental',
    'indexStagedKeys',
    'transformSource',
    'reconcileSource',
  ],
  ml: ['fitRfm', 'fitClusters', 'fitGrowth', 'fitClv', 'fitForecast', 'fitStock', 'fitRecommendations'],
  carts: ['decideRetargeting', 'sendRetargetingEmail', 'recordCartPurchase'],
} as const;

describe('each worker registers its own queue’s activities only', () => {
  // Pools and the mailer connect on first use only: building the factories touches neither.
  const warehouse = createPool('postgres://127.0.0.1:1/none', 'worker-queues-test');
  const shop = createPool('postgres://127.0.0.1:1/none', 'worker-queues-test');
  const deps = { config: testConfig(), warehouse, shop, mailer: createMailer('smtp://127.0.0.1:1') };
  afterAll(() => Promise.all([warehouse.end(), shop.end()]));

  const queues = createQueueActivities(deps);
  const names = {
    etl: Object.keys(queues.etl()),
    ml: Object.keys(queues.ml()),
    carts: Object.keys(queues.carts()),
  };

  it.each(['etl', 'ml', 'carts'] as const)('the %s queue has every activity its workflows call', (queue) => {
    expect(names[queue]).toEqual(expect.arrayContaining([...CALLED[queue]]));
  });

  it('the carts queue has the three cart activities and nothing else', () => {
    expect(names.carts.sort()).toEqual([...CALLED.carts].sort());
  });

  it('no activity is on two queues, and together they are every activity', () => {
    const all = [...names.etl, ...names.ml, ...names.carts];
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort()).toEqual(Object.keys(createActivities(deps)).sort());
  });
});
