import { WeightedTable, type Random } from './random';

/**
 * The simulated clock. All times are integer milliseconds since the epoch in UTC; the shop's day is
 * the UTC day. Nothing here reads the real clock: the period is fixed by its last day and its length.
 */
export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;

/** The CLI's end date when none is given: fixed, so that a seed alone decides the whole history. */
export const DEFAULT_END_DATE = '2026-10-31';

export interface SimulationPeriod {
  /** Midnight UTC of the first simulated day. */
  readonly startMs: number;
  /** Midnight UTC after the last simulated day: nothing in the history happens at or after it. */
  readonly endMs: number;
  readonly days: number;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Midnight UTC of a `YYYY-MM-DD` date; throws on anything that is not a real calendar date. */
export function parseIsoDate(text: string): number {
  const match = ISO_DATE.exec(text);
  const ms = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : NaN;
  if (!match || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text) {
    throw new Error(`"${text}" is not a date of the form YYYY-MM-DD (e.g. ${DEFAULT_END_DATE}).`);
  }
  return ms;
}

/** The period of `days` days whose last day is `endDate`. */
export function simulationPeriod(endDate: string, days: number): SimulationPeriod {
  if (!Number.isInteger(days) || days < 1) throw new Error(`days must be a positive integer, not ${days}.`);
  const endMs = parseIsoDate(endDate) + DAY_MS;
  return { startMs: endMs - days * DAY_MS, endMs, days };
}

/**
 * Traffic by weekday relative to an ordinary day, Sunday first (getUTCDay order). Shoppers browse
 * most on Sunday and Monday evenings and least on Friday and Saturday, when they are out.
 */
export const WEEKDAY_FACTORS: readonly number[] = [1.3, 1.05, 1.0, 0.98, 0.95, 0.9, 0.82];

/** A bump of height 1 at `centre` with width `spread` (in days). */
function bump(day: number, centre: number, spread: number): number {
  const z = (day - centre) / spread;
  return Math.exp(-0.5 * z * z);
}

/**
 * Traffic over the year relative to an ordinary day: the December gift peak (highest in the
 * fortnight before Christmas, quiet on the holidays themselves), a Black Friday spike at the end of
 * November, the January lull and a slower summer.
 */
export function yearlyFactor(ms: number): number {
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  const dayOfYear = Math.floor((ms - Date.UTC(year, 0, 1)) / DAY_MS); // 0 = 1 January
  const december1 = Math.floor((Date.UTC(year, 11, 1) - Date.UTC(year, 0, 1)) / DAY_MS);
  const blackFriday = december1 - 4; // close enough: the last Friday of November moves by a few days
  const christmas = december1 + 24;
  return (
    1 +
    1.1 * bump(dayOfYear, december1 + 13, 7) + // the run-up to Christmas
    0.9 * bump(dayOfYear, blackFriday, 1.5) +
    0.25 * bump(dayOfYear, blackFriday + 10, 8) - // Cyber Week and early gift shopping
    0.45 * bump(dayOfYear, christmas + 0.5, 1) - // Christmas Eve and Day: the shop is quiet
    0.2 * bump(dayOfYear, 20, 12) - // the January lull after the returns
    0.15 * bump(dayOfYear, 212, 20) // summer holidays
  );
}

/** How busy a day is relative to an ordinary weekday of an ordinary month. */
export function seasonality(dayStartMs: number): number {
  return WEEKDAY_FACTORS[new Date(dayStartMs).getUTCDay()] * yearlyFactor(dayStartMs);
}

/**
 * Sessions by hour of day (UTC, for a shop in central Europe): quiet at night, a lunch bump and an
 * evening peak.
 */
const HOURLY_WEIGHTS = [
  1.2, 0.7, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4.0, 4.3, 4.8, 5.5, 5.2, 4.6, 4.5, 4.7, 5.2, 6.2, 7.3, 7.8,
  6.9, 4.8, 2.6,
];
const HOURS = new WeightedTable(HOURLY_WEIGHTS);

/** A time of day in milliseconds after midnight, following the daily traffic curve. */
export function timeOfDay(random: Random): number {
  return HOURS.sample(random) * HOUR_MS + Math.floor(random.float() * HOUR_MS);
}

/**
 * The same curve as a monotone map from [0, 1) onto the day: a sorted sequence of fractions becomes a
 * sorted sequence of times that still follows the daily traffic curve (used for signups, whose
 * customer ids must grow with time).
 */
export function timeOfDayAtFraction(fraction: number): number {
  return Math.floor(HOURS.position(fraction) * HOUR_MS);
}

/** Midnight UTC of the day holding `ms`. */
export function dayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** True when `ms` falls on the last days before Christmas or on Black Friday week: promotions run then. */
export function isPromotionSeason(ms: number): boolean {
  const date = new Date(ms);
  const month = date.getUTCMonth();
  const day = date.getUTCDate();
  return (month === 10 && day >= 24) || (month === 11 && day <= 20);
}
