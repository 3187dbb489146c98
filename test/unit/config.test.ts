import { ConfigError, loadConfig, parseDuration } from '../../lib/config';

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment, frozen', () => {
    const config = loadConfig({}, '/srv/cartflow');
    expect(config.home).toBe('/srv/cartflow/.cartflow');
    expect(config.warehouseUrl).toBeUndefined();
    expect(config.temporal).toEqual({
      address: undefined,
      namespace: 'default',
      cliPath: undefined,
      workerMetricsPort: undefined,
    });
    expect(config.httpPort).toBe(3000);
    expect(config.sessionIdleMs).toBe(30 * 60_000);
    expect(config.timezone).toBe('UTC');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.embedded)).toBe(true);
  });

  it('reads external services and durations', () => {
    const config = loadConfig({
      CARTFLOW_WAREHOUSE_URL: 'postgres://u:p@db:5432/warehouse',
      TEMPORAL_ADDRESS: 'temporal:7233',
      SMTP_URL: 'smtp://mailpit:1025',
      CARTFLOW_SESSION_IDLE: '5s',
      CARTFLOW_TIMEZONE: 'Europe/London',
      CARTFLOW_WORKER_METRICS_PORT: '9464',
    });
    expect(config.warehouseUrl).toBe('postgres://u:p@db:5432/warehouse');
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.smtpUrl).toBe('smtp://mailpit:1025');
    expect(config.sessionIdleMs).toBe(5000);
    expect(config.timezone).toBe('Europe/London');
    expect(config.temporal.workerMetricsPort).toBe(9464);
  });

  it.each([
    ['CARTFLOW_HTTP_PORT', '70000', /CARTFLOW_HTTP_PORT must be a port number/],
    ['CARTFLOW_WORKER_METRICS_PORT', 'yes', /CARTFLOW_WORKER_METRICS_PORT must be a port number/],
    ['CARTFLOW_SESSION_IDLE', 'soon', /CARTFLOW_SESSION_IDLE must be a duration like 30m/],
    ['CARTFLOW_TIMEZONE', 'Mars/Olympus', /CARTFLOW_TIMEZONE must be an IANA time zone/],
    ['CARTFLOW_WAREHOUSE_URL', 'mysql://x', /CARTFLOW_WAREHOUSE_URL must be a postgres:\/\/ URL/],
    ['SMTP_URL', 'mail.example.com', /SMTP_URL must be an smtp:\/\//],
    ['TEMPORAL_ADDRESS', 'localhost', /TEMPORAL_ADDRESS must be host:port/],
    ['CARTFLOW_CLV_TIME_UNIT', 'months', /CARTFLOW_CLV_TIME_UNIT must be weeks or days/],
    ['CARTFLOW_CLV_DISCOUNT', '80%', /CARTFLOW_CLV_DISCOUNT must be a rate from 0 to 0.5/],
    ['CARTFLOW_CHURN_MONTHS', '0', /CARTFLOW_CHURN_MONTHS must be a whole number from 1 to 24/],
    ['CARTFLOW_FORECAST_COUNTRY', 'XX', /CARTFLOW_FORECAST_COUNTRY must be GB, DE, US, FR or none, not "XX"/],
    ['CARTFLOW_FORECAST_PRODUCTS', '-1', /CARTFLOW_FORECAST_PRODUCTS must be a whole number from 0 to 1000/],
  ])('names %s when it is malformed', (variable, value, message) => {
    const load = () => loadConfig({ [variable]: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });
});

describe('models config', () => {
  it('defaults to a 12-month CLV at 1% a month in weeks, churn after 2 months', () => {
    expect(loadConfig({}).models).toEqual({
      clvHorizonMonths: 12,
      clvMonthlyDiscount: 0.01,
      clvTimeUnit: 'weeks',
      churnMonths: 2,
      seed: 1,
      recommendations: expect.objectContaining({ factors: 'auto', alpha: 'auto', testDays: 28 }),
      forecast: { country: 'GB', customHolidays: [], topProducts: 50 },
    });
    expect(
      loadConfig({ CARTFLOW_CLV_DISCOUNT: '0.02', CARTFLOW_CLV_TIME_UNIT: 'days' }).models,
    ).toMatchObject({
      clvMonthlyDiscount: 0.02,
      clvTimeUnit: 'days',
    });
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['30m', 1_800_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1.5s', 1500],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '5', 'five minutes', '-5s', '5 weeks'])('refuses "%s"', (text) =>
    expect(parseDuration(text)).toBeUndefined(),
  );
});
