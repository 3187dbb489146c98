import { loadConfig } from '../../lib/config';

describe('the recommendations config', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({}).models.recommendations).toEqual({
      weights: { purchase: 1, cart: 0.5, view: 0.1 },
      factors: 'auto',
      iterations: 15,
      alpha: 'auto',
      excludeDays: 90,
      testDays: 28,
    });
  });

  it('reads weights in any order, keeping the defaults of those not given', () => {
    const { recommendations } = loadConfig({
      CARTFLOW_RECOMMEND_WEIGHTS: 'view:0, purchase=2',
      CARTFLOW_RECOMMEND_FACTORS: '8',
      CARTFLOW_RECOMMEND_EXCLUDE_DAYS: '0',
    }).models;
    expect(recommendations.weights).toEqual({ purchase: 2, cart: 0.5, view: 0 });
    expect(recommendations.factors).toBe(8);
    expect(recommendations.excludeDays).toBe(0);
  });

  it('takes α and the factors as auto or as a number', () => {
    expect(loadConfig({ CARTFLOW_RECOMMEND_ALPHA: 'auto' }).models.recommendations.alpha).toBe('auto');
    expect(loadConfig({ CARTFLOW_RECOMMEND_ALPHA: '2.5' }).models.recommendations.alpha).toBe(2.5);
    expect(loadConfig({ CARTFLOW_RECOMMEND_FACTORS: 'auto' }).models.recommendations.factors).toBe('auto');
    expect(loadConfig({ CARTFLOW_RECOMMEND_FACTORS: '48' }).models.recommendations.factors).toBe(48);
  });

  it.each([
    [
      'CARTFLOW_RECOMMEND_WEIGHTS',
      'purchase:1,basket:2',
      /CARTFLOW_RECOMMEND_WEIGHTS must be like purchase:1,cart:0.5,view:0.1, and "basket:2" is not/,
    ],
    ['CARTFLOW_RECOMMEND_WEIGHTS', 'purchase:0', /must give purchases a weight above 0/],
    ['CARTFLOW_RECOMMEND_WEIGHTS', 'cart:-1', /"cart:-1" is not/],
    [
      'CARTFLOW_RECOMMEND_FACTORS',
      '0',
      /CARTFLOW_RECOMMEND_FACTORS must be a whole number from 1 to 256, not "0"/,
    ],
    ['CARTFLOW_RECOMMEND_ITERATIONS', 'ten', /from 1 to 100, not "ten"/],
    ['CARTFLOW_RECOMMEND_TEST_DAYS', '400', /from 1 to 365/],
    [
      'CARTFLOW_RECOMMEND_ALPHA',
      '0',
      /CARTFLOW_RECOMMEND_ALPHA must be auto or a number above 0 and at most 1000, not "0"/,
    ],
  ])('refuses %s=%s, naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
