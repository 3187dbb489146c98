import { coalescer, funnelOf } from '../../server/live';

describe('live figures', () => {
  it('gives conversion rates of the funnel, and none over an empty step', () => {
    expect(funnelOf(200, 50, 10)).toEqual({
      viewed: 200,
      carted: 50,
      purchased: 10,
      cartRate: 0.25,
      purchaseRate: 0.2,
    });
    expect(funnelOf(0, 0, 0)).toMatchObject({ cartRate: null, purchaseRate: null });
  });

  it('coalesces pokes within the delay into one flush, and schedules again after it', async () => {
    let flushes = 0;
    const burst = coalescer(50, () => flushes++);
    for (let i = 0; i < 10; i++) burst.poke();
    expect(flushes).toBe(0);
    await new Promise((r) => setTimeout(r, 80));
    expect(flushes).toBe(1);
    burst.poke();
    await new Promise((r) => setTimeout(r, 80));
    expect(flushes).toBe(2);
    burst.poke();
    burst.cancel();
    await new Promise((r) => setTimeout(r, 80));
    expect(flushes).toBe(2);
  });
});
