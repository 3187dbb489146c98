import { describeForecast } from '../../cli/models-forecast';

const accuracy = (smape: number, coverage80: number, coverage95: number) => ({
  mae: 1,
  smape,
  coverage80,
  coverage95,
});

describe('cartflow models show forecast (cli/models-forecast.ts)', () => {
  const parameters = { historyDays: 400, historyFrom: '2025-10-01', horizonDays: 28, country: 'GB' };
  const series = (name: string, points: number) => ({
    series: name,
    method: 'additive',
    transform: 'log1p',
    yearly: false,
    origins: 8,
    additive: accuracy(20, 0.79, 0.94),
    seasonal_naive: accuracy(30, 0.6, 0.8),
    weekday_mean: accuracy(25, 0.7, 0.9),
    additiveUncalibrated: { coverage80: 0.55, coverage95: 0.71 },
    intervalScale: { c80: 1.62, c95: 1.48, points },
  });

  it('prints each series’ interval coverage before and after the calibration, with its factors', () => {
    const lines = describeForecast(parameters, {
      series: 2,
      backtest: [series('revenue', 56), series('orders', 0)],
    });
    const revenue = lines.find((line) => /^ {2}revenue .*→/.test(line));
    expect(revenue?.split(/\s+/).slice(1)).toEqual([
      'revenue',
      '55.0%',
      '→',
      '79.0%',
      '71.0%',
      '→',
      '94.0%',
      '×1.62',
      '/',
      '×1.48',
      '56',
    ]);
    const orders = lines.find((line) => /^ {2}orders .*→/.test(line));
    expect(orders).toMatch(/not calibrated +0$/);
  });

  it('prints what each series is served by and the served backtest, not the model alone’s', () => {
    const combined = {
      ...series('revenue', 56),
      candidate: 'log1p+none+flat',
      served: accuracy(17.5, 0.8, 0.95),
    };
    const baseline = {
      ...series('orders', 56),
      method: 'weekday_mean',
      candidate: 'weekday_mean',
      served: accuracy(24, 0.7, 0.9),
    };
    const lines = describeForecast(parameters, { series: 2, backtest: [combined, baseline] });
    const row = (name: string) =>
      lines
        .find((line) => line.startsWith(`  ${name} `))!
        .split(/\s+/)
        .slice(1, 4);
    expect(row('revenue')).toEqual(['revenue', 'log1p+none+flat', '17.5%']);
    expect(row('orders')).toEqual(['orders', 'weekday_mean', '24.0%']);
    // A version stored before the served backtest existed: the sMAPE of the method it was served by.
    const old = series('revenue', 56);
    const [line] = describeForecast(parameters, { series: 1, backtest: [old] }).filter((l) =>
      l.startsWith('  revenue '),
    );
    expect(line.split(/\s+/).slice(1, 4)).toEqual(['revenue', 'additive', '20.0%']);
  });

  it('prints no calibration block for versions stored before the calibration existed', () => {
    const old = series('revenue', 56) as Partial<ReturnType<typeof series>>;
    delete old.intervalScale;
    delete old.additiveUncalibrated;
    const lines = describeForecast(parameters, { series: 1, backtest: [old] });
    expect(lines.some((line) => line.includes('split conformal'))).toBe(false);
  });
});
