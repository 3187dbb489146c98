/**
 * The readable lines of `cartflow models show forecast` and `cartflow models show stock`: the
 * backtest of the model against both baselines, and the stock model's evaluation against its baseline.
 */

interface Accuracy {
  mae: number;
  smape: number;
  coverage80: number;
  coverage95: number;
}

interface SeriesBacktest {
  series: string;
  product_source?: string;
  product_id?: string;
  method: string;
  /** What the series is served by: the model's combination or a baseline (versions before it: absent). */
  candidate?: string;
  reason?: string;
  transform: string;
  yearly: boolean;
  origins: number;
  additive: Accuracy;
  seasonal_naive: Accuracy;
  weekday_mean: Accuracy;
  /** The backtest of the forecast as served, each origin chosen on the ones before it (versions before it: absent). */
  served?: Accuracy;
  /** The model's coverage with its simulated intervals, before the conformal calibration. */
  additiveUncalibrated?: Pick<Accuracy, 'coverage80' | 'coverage95'>;
  /** The factors the served intervals were widened (> 1) or narrowed by, from `points` backtest days. */
  intervalScale?: { c80: number; c95: number; points: number };
}

const METHODS = ['additive', 'seasonal_naive', 'weekday_mean'] as const;
/** Series printed one by one; past this many, the units series are summed up with the worst named. */
const LISTED_SERIES = 12;

const pct = (value: number) => `${value.toFixed(1)}%`.padStart(7);
const num = (value: unknown, digits: number) => (typeof value === 'number' ? value.toFixed(digits) : '—');

function seriesName(b: SeriesBacktest): string {
  return b.product_id ? `units ${b.product_id}` : b.series;
}

/** The backtest of what the series is served by (older versions: the method it was served by). */
const servedAccuracy = (b: SeriesBacktest): Accuracy => b.served ?? b[b.method as (typeof METHODS)[number]];

function seriesLine(b: SeriesBacktest): string {
  const cells = METHODS.map(
    (m) =>
      `${pct(b[m].smape)} ${num(b[m].mae, 2).padStart(9)} ${pct(100 * b[m].coverage80)} ${pct(100 * b[m].coverage95)}`,
  );
  const servedBy = (b.candidate ?? b.method).slice(0, 16).padEnd(16);
  return `  ${seriesName(b).slice(0, 24).padEnd(24)} ${servedBy} ${pct(servedAccuracy(b).smape)} |${cells.join(' |')}`;
}

export function describeForecast(p: Record<string, unknown>, m: Record<string, unknown>): string[] {
  const backtests = (m.backtest ?? []) as SeriesBacktest[];
  const servedBy = (m.servedBy ?? {}) as Record<string, number>;
  const mean = (m.meanSmape ?? {}) as Record<string, number>;
  const header =
    `  ${'series'.padEnd(24)} ${'served by'.padEnd(16)} ${'sMAPE'.padStart(7)} |` +
    METHODS.map((name) => `${name.padEnd(8).slice(0, 14)}: sMAPE MAE cov80 cov95`.padEnd(39)).join('|');
  const lines = [
    `history: ${String(p.historyDays)} days from ${String(p.historyFrom)}; ${String(m.series)} series, ${String(p.horizonDays)} days ahead` +
      `; holidays of ${String(p.country ?? 'none')}; closed weekdays: ${((p.closedWeekdays ?? []) as number[]).join(', ') || 'none'}`,
    `backtest: ${String(p.backtest)}; ${num(m.fitMsPerSeries, 1)} ms per series (fit and backtest)`,
    `mean sMAPE over the series: model ${num(mean.additive, 2)}%, seasonal naive ${num(mean.seasonal_naive, 2)}%,` +
      ` weekday mean ${num(mean.weekday_mean, 2)}%; as served ${num(mean.served, 2)}%`,
    `served by the model: ${servedBy.additive ?? 0}, by seasonal naive: ${servedBy.seasonal_naive ?? 0}, by the weekday mean: ${servedBy.weekday_mean ?? 0}`,
    ...((m.notes ?? []) as string[]).map((note) => `note: ${note}`),
    header,
  ];
  const listed =
    backtests.length <= LISTED_SERIES ? backtests : backtests.filter((b) => b.series !== 'units');
  lines.push(...listed.map(seriesLine));
  if (listed.length < backtests.length) {
    const units = backtests.filter((b) => b.series === 'units');
    const average = (pick: (b: SeriesBacktest) => number) =>
      units.reduce((s, b) => s + pick(b), 0) / units.length;
    const aggregate: SeriesBacktest = {
      series: `units (${units.length} products)`,
      method: `${units.filter((b) => b.method === 'additive').length} by model`,
      served: {
        mae: average((b) => servedAccuracy(b).mae),
        smape: average((b) => servedAccuracy(b).smape),
        coverage80: average((b) => servedAccuracy(b).coverage80),
        coverage95: average((b) => servedAccuracy(b).coverage95),
      },
      transform: '',
      yearly: false,
      origins: 0,
      ...Object.fromEntries(
        METHODS.map((name) => [
          name,
          {
            mae: average((b) => b[name].mae),
            smape: average((b) => b[name].smape),
            coverage80: average((b) => b[name].coverage80),
            coverage95: average((b) => b[name].coverage95),
          },
        ]),
      ),
    } as SeriesBacktest;
    lines.push(seriesLine(aggregate));
    const worst = units.reduce((a, b) => (servedAccuracy(b).smape > servedAccuracy(a).smape ? b : a));
    lines.push(`  worst units series as served: ${worst.product_id ?? ''}`, seriesLine(worst));
  }
  for (const b of backtests) if (b.reason) lines.push(`  ${seriesName(b)}: ${b.reason}`);
  lines.push(...calibrationLines(listed));
  return lines;
}

/**
 * The model's intervals per series: their coverage in the backtest before and after the split-conformal
 * calibration, and the factors the served intervals carry.
 */
function calibrationLines(backtests: SeriesBacktest[]): string[] {
  const calibrated = backtests.filter((b) => b.intervalScale && b.additiveUncalibrated);
  if (calibrated.length === 0) return [];
  return [
    `model intervals (split conformal): ${'series'.padEnd(24)} cov80 before → after  cov95 before → after  scale 80% / 95%  from days`,
    ...calibrated.map((b) => {
      const before = b.additiveUncalibrated!;
      const scale = b.intervalScale!;
      const factors = scale.points > 0 ? `×${num(scale.c80, 2)} / ×${num(scale.c95, 2)}` : 'not calibrated';
      return (
        `  ${seriesName(b).slice(0, 24).padEnd(24)} ${pct(100 * before.coverage80)} → ${pct(100 * b.additive.coverage80)}` +
        `  ${pct(100 * before.coverage95)} → ${pct(100 * b.additive.coverage95)}  ${factors.padEnd(15)} ${scale.points}`
      );
    }),
  ];
}

export function describeStock(p: Record<string, unknown>, m: Record<string, unknown>): string[] {
  const evaluation = (m.evaluation ?? {}) as Record<string, Record<string, number>>;
  const rows = Object.entries(evaluation).map(
    ([name, e]) =>
      `  ${name.padEnd(22)} AUC ${num(e.auc, 4)}  log loss ${num(e.logLoss, 4)}  units MAE ${num(e.unitsMae, 3)}`,
  );
  return [
    `products: ${String(m.products)}, trained on windows ending up to ${String(p.trainedUpTo)}, evaluated on the 7 days to ${String(p.evaluatedUpTo)}`,
    `features: ${((p.features ?? []) as string[]).join(', ')}`,
    `stock: ${String(p.stock)}`,
    ...rows,
  ];
}
