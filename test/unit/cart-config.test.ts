import { ConfigError, ENVIRONMENT, loadConfig } from '../../lib/config';

describe('the abandoned-cart settings of loadConfig', () => {
  it('gives the documented defaults', () => {
    const config = loadConfig({ CARTFLOW_HTTP_PORT: '3100' }, '/srv/cartflow');
    expect(config.carts).toEqual({
      holdoutShare: 0.1,
      cooldownMs: 7 * 86_400_000,
      reminderDelayMs: 86_400_000,
      attributionWindowMs: 7 * 86_400_000,
      unsubscribeSecret: undefined,
      publicUrl: 'http://localhost:3100',
      cartUrlTemplate: 'http://localhost:3100/cart/{session}?code={code}',
      mailFrom: 'Cartflow Shop <shop@cartflow.localhost>',
      highValueThreshold: 200,
      highValuePercent: 10,
      currency: 'EUR',
      workerCacheSize: 20_000,
    });
    expect(Object.isFrozen(config.carts)).toBe(true);
  });

  it('reads every variable, shares as fractions or percentages, and "off" for the reminder', () => {
    const config = loadConfig({
      CARTFLOW_HOLDOUT_SHARE: '0.25',
      CARTFLOW_RETARGET_COOLDOWN: '3d',
      CARTFLOW_REMINDER_DELAY: 'off',
      CARTFLOW_ATTRIBUTION_WINDOW: '48h',
      CARTFLOW_UNSUBSCRIBE_SECRET: 'a-secret-of-enough-length',
      CARTFLOW_PUBLIC_URL: 'https://api.shop.example/',
      CARTFLOW_CART_URL: 'https://shop.example/cart?s={session}&c={code}',
      CARTFLOW_MAIL_FROM: 'shop@shop.example',
      CARTFLOW_OFFER_HIGH_VALUE: '150',
      CARTFLOW_OFFER_PERCENT: '15',
      CARTFLOW_CURRENCY: 'usd',
      CARTFLOW_CART_CACHE: '50000',
    });
    expect(config.carts).toEqual({
      holdoutShare: 0.25,
      cooldownMs: 3 * 86_400_000,
      reminderDelayMs: undefined,
      attributionWindowMs: 48 * 3_600_000,
      unsubscribeSecret: 'a-secret-of-enough-length',
      publicUrl: 'https://api.shop.example',
      cartUrlTemplate: 'https://shop.example/cart?s={session}&c={code}',
      mailFrom: 'shop@shop.example',
      highValueThreshold: 150,
      highValuePercent: 15,
      currency: 'USD',
      workerCacheSize: 50_000,
    });
    expect(loadConfig({ CARTFLOW_HOLDOUT_SHARE: '5%' }).carts.holdoutShare).toBeCloseTo(0.05);
    expect(loadConfig({ CARTFLOW_HOLDOUT_SHARE: '0' }).carts.holdoutShare).toBe(0);
  });

  it.each([
    ['CARTFLOW_HOLDOUT_SHARE', '60%', /CARTFLOW_HOLDOUT_SHARE must be a share from 0 to 0.5/],
    ['CARTFLOW_HOLDOUT_SHARE', 'ten', /CARTFLOW_HOLDOUT_SHARE must be a share/],
    ['CARTFLOW_RETARGET_COOLDOWN', 'weekly', /CARTFLOW_RETARGET_COOLDOWN must be a duration/],
    [
      'CARTFLOW_REMINDER_DELAY',
      'never',
      /CARTFLOW_REMINDER_DELAY must be a duration like 24h or 90m, or off/,
    ],
    ['CARTFLOW_ATTRIBUTION_WINDOW', '0s', /CARTFLOW_ATTRIBUTION_WINDOW must be a duration/],
    ['CARTFLOW_UNSUBSCRIBE_SECRET', 'short', /CARTFLOW_UNSUBSCRIBE_SECRET must be at least 16 characters/],
    ['CARTFLOW_PUBLIC_URL', 'shop.example', /CARTFLOW_PUBLIC_URL must be an http:\/\/ or https:\/\/ URL/],
    ['CARTFLOW_CART_URL', 'https://shop.example/cart', /CARTFLOW_CART_URL must contain \{session\}/],
    ['CARTFLOW_MAIL_FROM', 'not an address', /CARTFLOW_MAIL_FROM must be an e-mail address/],
    ['CARTFLOW_OFFER_HIGH_VALUE', '-1', /CARTFLOW_OFFER_HIGH_VALUE must be a number from 0/],
    ['CARTFLOW_OFFER_PERCENT', '95', /CARTFLOW_OFFER_PERCENT must be a number from 1 to 90/],
    ['CARTFLOW_CURRENCY', 'euros', /CARTFLOW_CURRENCY must be an ISO 4217 currency code/],
  ])('names %s when it is "%s"', (variable, value, message) => {
    const load = () => loadConfig({ [variable]: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });

  it('lists every cart variable in ENVIRONMENT, with its meaning', () => {
    for (const name of [
      'CARTFLOW_HOLDOUT_SHARE',
      'CARTFLOW_RETARGET_COOLDOWN',
      'CARTFLOW_REMINDER_DELAY',
      'CARTFLOW_ATTRIBUTION_WINDOW',
      'CARTFLOW_UNSUBSCRIBE_SECRET',
      'CARTFLOW_PUBLIC_URL',
      'CARTFLOW_CART_URL',
      'CARTFLOW_MAIL_FROM',
      'CARTFLOW_OFFER_HIGH_VALUE',
      'CARTFLOW_OFFER_PERCENT',
      'CARTFLOW_CURRENCY',
      'CARTFLOW_CART_CACHE',
    ]) {
      expect(ENVIRONMENT[name as keyof typeof ENVIRONMENT]).toMatch(/default/);
    }
  });
});
