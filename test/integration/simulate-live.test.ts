import { loadLiveShop, runLiveStorefront } from '../../cli/simulate-live';
import {
  customersOutsideHoldout,
  seedShop,
  startCartStack,
  TEST_TOKEN,
  waitFor,
  type CartStack,
} from '../helpers/carts';

describe('cartflow simulate-live: a storefront playing the demo shop against the HTTP API', () => {
  let stack: CartStack;
  beforeAll(async () => {
    stack = await startCartStack('simulate_live', {
      CARTFLOW_SESSION_IDLE: '2s',
      CARTFLOW_REMINDER_DELAY: 'off',
    });
  });
  afterAll(async () => stack?.stop());

  it('refuses an empty shop with what to do', async () => {
    await expect(loadLiveShop(stack.deps.shop)).rejects.toThrow(/npx cartflow simulate/);
  });

  it('plays shoppers who view, fill carts, buy or leave — and the carts they leave get e-mails', async () => {
    await seedShop(
      stack.deps.shop,
      customersOutsideHoldout(50, 0.1, 20_000).map((id) => ({ id })),
    );
    const shop = await loadLiveShop(stack.deps.shop);
    const stats = await runLiveStorefront(shop, {
      httpUrl: stack.url,
      ingestToken: TEST_TOKEN,
      rate: 20,
      sessionIdleMs: 2000,
      durationMs: 8000,
    });
    expect(stats.requestsFailed).toBe(0);
    expect(stats.accepted).toBe(stats.eventsSent);
    expect(stats.accepted).toBeGreaterThan(60);
    expect(stats.bought + stats.left).toBeGreaterThan(0);

    const { rows } = await stack.deps.warehouse.query<{ event_type: string; n: number }>(
      `select event_type, count(*)::int as n from staging.raw_events where user_session like 'live-%' group by 1`,
    );
    const byType = Object.fromEntries(rows.map((row) => [row.event_type, row.n]));
    expect(byType.view).toBeGreaterThan(0);
    expect(byType.cart).toBeGreaterThan(0);
    await waitFor('an abandoned cart recorded and e-mailed', async () => {
      const sessions = await stack.deps.warehouse.query(
        `select count(*)::int as n from core.fact_retargeting where decision = 'sent' and user_session like 'live-%'`,
      );
      return sessions.rows[0].n > 0 ? true : undefined;
    });
  });
});
