/**
 * Public holidays by rule, for the forecasts' holiday terms (docs/models-forecast.md, Holidays).
 *
 * Pure and offline: each country's national public holidays are computed from fixed dates, "n-th
 * weekday of the month" rules and Easter (the anonymous Gregorian algorithm), with the observed-day
 * rules the country applies when a holiday falls on a weekend. Regional holidays (a German Land's,
 * Scotland's) are not in the table; a shop adds its own dates with `extra`.
 */

/** The countries with a built-in table. */
export const HOLIDAY_COUNTRIES = ['GB', 'DE', 'US', 'FR'] as const;
export type HolidayCountry = (typeof HOLIDAY_COUNTRIES)[number];

/** A holiday: the day it is kept (a day number, days since 1970-01-01 UTC) and its name. */
export interface Holiday {
  day: number;
  name: string;
}

const MS_PER_DAY = 86_400_000;

/** Days since 1970-01-01 of a calendar date (month 1..12). */
export function dayNumber(year: number, month: number, day: number): number {
  return Date.UTC(year, month - 1, day) / MS_PER_DAY;
}

/** The day number of a YYYY-MM-DD date, failing on anything else. */
export function parseDay(date: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const day = match ? dayNumber(Number(match[1]), Number(match[2]), Number(match[3])) : NaN;
  if (!match || formatDay(day) !== date) throw new Error(`"${date}" is not a calendar date YYYY-MM-DD`);
  return day;
}

/** YYYY-MM-DD of a day number. */
export function formatDay(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}

/** ISO day of the week of a day number: 1 Monday … 7 Sunday (1970-01-01 was a Thursday). */
export function isoWeekday(day: number): number {
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

/** Easter Sunday of a Gregorian year (the anonymous algorithm of Meeus/Jones/Butcher). */
export function easterSunday(year: number): number {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return dayNumber(year, month, day);
}

/** The n-th `weekday` (ISO 1..7) of a month; n = -1 is the last one. */
function nthWeekday(year: number, month: number, weekday: number, n: number): number {
  if (n > 0) {
    const first = dayNumber(year, month, 1);
    return first + ((weekday - isoWeekday(first) + 7) % 7) + 7 * (n - 1);
  }
  const last = dayNumber(year, month + 1, 1) - 1;
  return last - ((isoWeekday(last) - weekday + 7) % 7);
}

/** US federal rule: a Saturday holiday is observed on the Friday, a Sunday one on the Monday. */
function usObserved(day: number): number {
  const weekday = isoWeekday(day);
  return weekday === 6 ? day - 1 : weekday === 7 ? day + 1 : day;
}

function holidaysOfYear(country: HolidayCountry, year: number): Holiday[] {
  const easter = easterSunday(year);
  const on = (month: number, day: number) => dayNumber(year, month, day);
  switch (country) {
    case 'GB': {
      // England and Wales: a weekend New Year's Day, Christmas or Boxing Day moves to the next free weekday.
      const christmas = on(12, 25);
      const boxing = on(12, 26);
      const newYear = on(1, 1);
      const weekday = (day: number) => isoWeekday(day);
      const newYearKept =
        weekday(newYear) === 6 ? newYear + 2 : weekday(newYear) === 7 ? newYear + 1 : newYear;
      let christmasKept = christmas;
      let boxingKept = boxing;
      if (weekday(christmas) === 6) [christmasKept, boxingKept] = [christmas + 2, boxing + 2];
      else if (weekday(christmas) === 7) [christmasKept, boxingKept] = [christmas + 2, boxing];
      else if (weekday(christmas) === 5) boxingKept = boxing + 2;
      return [
        { day: newYearKept, name: "New Year's Day" },
        { day: easter - 2, name: 'Good Friday' },
        { day: easter + 1, name: 'Easter Monday' },
        { day: nthWeekday(year, 5, 1, 1), name: 'Early May bank holiday' },
        { day: nthWeekday(year, 5, 1, -1), name: 'Spring bank holiday' },
        { day: nthWeekday(year, 8, 1, -1), name: 'Summer bank holiday' },
        { day: christmasKept, name: 'Christmas Day' },
        { day: boxingKept, name: 'Boxing Day' },
      ];
    }
    case 'DE':
      return [
        { day: on(1, 1), name: 'Neujahr' },
        { day: easter - 2, name: 'Karfreitag' },
        { day: easter + 1, name: 'Ostermontag' },
        { day: on(5, 1), name: 'Tag der Arbeit' },
        { day: easter + 39, name: 'Christi Himmelfahrt' },
        { day: easter + 50, name: 'Pfingstmontag' },
        { day: on(10, 3), name: 'Tag der Deutschen Einheit' },
        { day: on(12, 25), name: '1. Weihnachtstag' },
        { day: on(12, 26), name: '2. Weihnachtstag' },
      ];
    case 'FR':
      return [
        { day: on(1, 1), name: "Jour de l'an" },
        { day: easter + 1, name: 'Lundi de Pâques' },
        { day: on(5, 1), name: 'Fête du Travail' },
        { day: on(5, 8), name: 'Victoire 1945' },
        { day: easter + 39, name: 'Ascension' },
        { day: easter + 50, name: 'Lundi de Pentecôte' },
        { day: on(7, 14), name: 'Fête nationale' },
        { day: on(8, 15), name: 'Assomption' },
        { day: on(11, 1), name: 'Toussaint' },
        { day: on(11, 11), name: 'Armistice 1918' },
        { day: on(12, 25), name: 'Noël' },
      ];
    case 'US':
      return [
        { day: usObserved(on(1, 1)), name: "New Year's Day" },
        { day: nthWeekday(year, 1, 1, 3), name: 'Martin Luther King Jr. Day' },
        { day: nthWeekday(year, 2, 1, 3), name: "Washington's Birthday" },
        { day: nthWeekday(year, 5, 1, -1), name: 'Memorial Day' },
        ...(year >= 2021 ? [{ day: usObserved(on(6, 19)), name: 'Juneteenth' }] : []),
        { day: usObserved(on(7, 4)), name: 'Independence Day' },
        { day: nthWeekday(year, 9, 1, 1), name: 'Labor Day' },
        { day: nthWeekday(year, 10, 1, 2), name: 'Columbus Day' },
        { day: usObserved(on(11, 11)), name: 'Veterans Day' },
        { day: nthWeekday(year, 11, 4, 4), name: 'Thanksgiving Day' },
        { day: usObserved(on(12, 25)), name: 'Christmas Day' },
      ];
  }
}

/**
 * The holidays from `firstDay` to `lastDay` (day numbers, inclusive): the country's public holidays
 * (none for `null`) and the shop's `extra` days, sorted by day. A name names one recurring holiday:
 * the forecast learns one effect per name.
 */
export function holidayCalendar(
  country: HolidayCountry | null,
  firstDay: number,
  lastDay: number,
  extra: readonly Holiday[] = [],
): Holiday[] {
  const firstYear = new Date(firstDay * MS_PER_DAY).getUTCFullYear();
  const lastYear = new Date(lastDay * MS_PER_DAY).getUTCFullYear();
  const all: Holiday[] = [];
  if (country)
    for (let year = firstYear; year <= lastYear; year++) all.push(...holidaysOfYear(country, year));
  all.push(...extra);
  return all.filter((h) => h.day >= firstDay && h.day <= lastDay).sort((a, b) => a.day - b.day);
}

/** A country code of the table, or a clear error naming the choices. */
export function holidayCountry(code: string): HolidayCountry | null {
  const upper = code.toUpperCase();
  if (upper === 'NONE') return null;
  if ((HOLIDAY_COUNTRIES as readonly string[]).includes(upper)) return upper as HolidayCountry;
  throw new Error(
    `"${code}" has no built-in holiday table: use one of ${HOLIDAY_COUNTRIES.join(', ')} or none`,
  );
}

/** The most days one custom holiday list may name (ranges included), against typos like 2025..2052. */
export const MAX_CUSTOM_HOLIDAY_DAYS = 5000;

/**
 * The shop's own dates (sales, closures, events) from text: `Name=date[,date…]` entries separated by
 * `;`, each date a `YYYY-MM-DD` or a range `YYYY-MM-DD..YYYY-MM-DD` (inclusive), e.g.
 * `Black Friday=2024-11-29,2025-11-28; Summer sale=2025-07-01..2025-07-07` (a new line separates
 * entries too, and a line starting with # is a comment). Every day of a name shares one learnt
 * effect. Empty text is no dates. Throws a clear error on anything else.
 */
export function parseCustomHolidays(text: string): Holiday[] {
  const holidays: Holiday[] = [];
  const names = new Set<string>();
  for (const entry of text.split(/[;\n]/)) {
    if (entry.trim() === '' || entry.trim().startsWith('#')) continue;
    const equals = entry.indexOf('=');
    const name = equals < 0 ? '' : entry.slice(0, equals).trim();
    const dates = equals < 0 ? '' : entry.slice(equals + 1).trim();
    if (name === '' || dates === '')
      throw new Error(`"${entry.trim()}" is not Name=YYYY-MM-DD[,YYYY-MM-DD|YYYY-MM-DD..YYYY-MM-DD…]`);
    if (names.has(name))
      throw new Error(`the holiday "${name}" is named twice: list all its dates in one entry`);
    names.add(name);
    for (const part of dates.split(',')) {
      const [from, to, extra] = part.trim().split('..');
      if (extra !== undefined)
        throw new Error(`"${part.trim()}" of "${name}" is not a date or a range of two dates`);
      const first = parseDay(from);
      const last = to === undefined ? first : parseDay(to);
      if (last < first) throw new Error(`the range "${part.trim()}" of "${name}" ends before it starts`);
      for (let day = first; day <= last; day++) holidays.push({ day, name });
      if (holidays.length > MAX_CUSTOM_HOLIDAY_DAYS)
        throw new Error(
          `the custom holidays name more than ${MAX_CUSTOM_HOLIDAY_DAYS} days: check the ranges`,
        );
    }
  }
  return holidays.sort((a, b) => a.day - b.day || (a.name < b.name ? -1 : 1));
}
