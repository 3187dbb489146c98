/**
 * Dates in imported files. Each value is recognised as it streams past by the first known format it
 * fits (a column may mix them: the salon file has `2020-01` and `2020-10-01 00:00:00`) and written as
 * ISO text; the warehouse then checks it is a real date and reads it in the shop's time zone (unless
 * it names one). Only one thing is decided for the whole file: whether `1/2/2020` is month or day
 * first — by the values themselves (a first number above 12 means day first), so every line of a
 * file is read the same way. A value no format fits is quarantined as `unparseable_date`, never
 * guessed; a column where most values fit none is refused, with examples.
 */
import { ImportRefused } from './input';

export type DatePart =
  | 'year' // four digits
  | 'yearAny' // two or four digits; 00–68 are 20xx, 69–99 are 19xx (as strptime's %y)
  | 'month'
  | 'monthName' // Jan, January, …
  | 'day'
  | 'hour'
  | 'minute'
  | 'second'
  | 'fraction'
  | 'ampm'
  | 'zone'; // Z, UTC, GMT, +01:00, +0100

export interface DateFormat {
  /** How the summary and messages name the format. */
  label: string;
  regex: RegExp;
  parts: DatePart[];
}

/** How precise a date is: month-only dates are read as the 1st at 00:00, dates without a time at 00:00. */
export type DatePrecision = 'month' | 'day' | 'time';

const TIME = '(?:[ T](\\d{1,2}):(\\d{2})(?::(\\d{2})(?:[.,](\\d+))?)? *([AaPp][Mm])?)?';
const TIME_PARTS: DatePart[] = ['hour', 'minute', 'second', 'fraction', 'ampm'];

export const ISO_FORMAT: DateFormat = {
  label: 'YYYY-MM-DD[ HH:MM[:SS]][ zone]',
  regex:
    /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)? *(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?)?$/i,
  parts: ['year', 'month', 'day', 'hour', 'minute', 'second', 'fraction', 'zone'],
};
export const YEAR_MONTH_FORMAT: DateFormat = {
  label: 'YYYY-MM (month only)',
  regex: /^(\d{4})[-/](\d{1,2})$/,
  parts: ['year', 'month'],
};
export const COMPACT_FORMAT: DateFormat = {
  label: 'YYYYMMDD',
  regex: /^(\d{4})(\d{2})(\d{2})$/,
  parts: ['year', 'month', 'day'],
};
const SLASH = new RegExp(`^(\\d{1,2})/(\\d{1,2})/(\\d{4}|\\d{2})${TIME}$`, 'i');
export const MONTH_FIRST_FORMAT: DateFormat = {
  label: 'M/D/YY[YY][ H:MM[:SS]]',
  regex: SLASH,
  parts: ['month', 'day', 'yearAny', ...TIME_PARTS],
};
export const DAY_FIRST_FORMAT: DateFormat = {
  label: 'D/M/YY[YY][ H:MM[:SS]]',
  regex: SLASH,
  parts: ['day', 'month', 'yearAny', ...TIME_PARTS],
};
export const DOTTED_FORMAT: DateFormat = {
  label: 'D.M.YYYY[ H:MM[:SS]]',
  regex: new RegExp(`^(\\d{1,2})\\.(\\d{1,2})\\.(\\d{4}|\\d{2})${TIME}$`, 'i'),
  parts: ['day', 'month', 'yearAny', ...TIME_PARTS],
};
export const DAY_MONTH_NAME_FORMAT: DateFormat = {
  label: 'D-Mon-YYYY[ H:MM[:SS]]',
  regex: new RegExp(`^(\\d{1,2})[- ]([A-Za-z]{3,9})[- ,]+(\\d{4}|\\d{2})${TIME}$`, 'i'),
  parts: ['day', 'monthName', 'yearAny', ...TIME_PARTS],
};
export const MONTH_NAME_DAY_FORMAT: DateFormat = {
  label: 'Mon D, YYYY[ H:MM[:SS]]',
  regex: new RegExp(`^([A-Za-z]{3,9})\\.? (\\d{1,2}),? (\\d{4})${TIME}$`, 'i'),
  parts: ['monthName', 'day', 'year', ...TIME_PARTS],
};

/** What recognition tries, in order. M/D and D/M share one pattern; the file's values decide between them. */
export const AUTO_FORMATS: readonly DateFormat[] = [
  ISO_FORMAT,
  YEAR_MONTH_FORMAT,
  COMPACT_FORMAT,
  MONTH_FIRST_FORMAT,
  DOTTED_FORMAT,
  DAY_MONTH_NAME_FORMAT,
  MONTH_NAME_DAY_FORMAT,
];

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\/-]/g, (c) => `\\${c}`);

/** Tokens of `--date-format`, longest first. `%` directives (strftime) are accepted too. */
const TOKENS: [string, DatePart | 'minuteOrMonth', string][] = [
  ['YYYY', 'year', '(\\d{4})'],
  ['YY', 'yearAny', '(\\d{2})'],
  ['MMMM', 'monthName', '([A-Za-z]{3,9})'],
  ['MMM', 'monthName', '([A-Za-z]{3,9})'],
  ['MM', 'minuteOrMonth', '(\\d{2})'],
  ['M', 'minuteOrMonth', '(\\d{1,2})'],
  ['DD', 'day', '(\\d{2})'],
  ['D', 'day', '(\\d{1,2})'],
  ['HH', 'hour', '(\\d{2})'],
  ['H', 'hour', '(\\d{1,2})'],
  ['hh', 'hour', '(\\d{2})'],
  ['h', 'hour', '(\\d{1,2})'],
  ['mm', 'minute', '(\\d{2})'],
  ['ss', 'second', '(\\d{2})'],
  ['SS', 'second', '(\\d{2})'],
  ['A', 'ampm', '([AaPp][Mm])'],
  ['a', 'ampm', '([AaPp][Mm])'],
  ['Z', 'zone', '(Z|UTC|GMT|[+-]\\d{2}(?::?\\d{2})?)'],
];
const STRFTIME: Record<string, [DatePart, string]> = {
  Y: ['year', '(\\d{4})'],
  y: ['yearAny', '(\\d{2})'],
  m: ['month', '(\\d{1,2})'],
  d: ['day', '(\\d{1,2})'],
  e: ['day', ' ?(\\d{1,2})'],
  H: ['hour', '(\\d{1,2})'],
  I: ['hour', '(\\d{1,2})'],
  M: ['minute', '(\\d{2})'],
  S: ['second', '(\\d{2})'],
  f: ['fraction', '(\\d+)'],
  b: ['monthName', '([A-Za-z]{3,9})'],
  B: ['monthName', '([A-Za-z]{3,9})'],
  p: ['ampm', '([AaPp][Mm])'],
  z: ['zone', '(Z|UTC|GMT|[+-]\\d{2}(?::?\\d{2})?)'],
};

/**
 * Reads a `--date-format`: `M/D/YY H:MM`, `YYYYMMDD`, `DD.MM.YYYY HH:mm:ss`, `YYYY-MM`, or strftime's
 * `%d/%m/%Y %H:%M`. `MM` right after an hour and a colon means minutes (so `H:MM` reads as people
 * write it); `mm` is always minutes, `ss`/`SS` seconds, `A` AM/PM, `Z` a zone.
 */
export function parseDateFormat(spec: string): DateFormat {
  const parts: DatePart[] = [];
  let regex = '^';
  let i = 0;
  while (i < spec.length) {
    if (spec[i] === '%' && i + 1 < spec.length) {
      if (spec[i + 1] === '%') {
        regex += '%';
        i += 2;
        continue;
      }
      const directive = STRFTIME[spec[i + 1]];
      if (!directive)
        throw new ImportRefused(`--date-format "${spec}": %${spec[i + 1]} is not a date directive I know.`);
      parts.push(directive[0]);
      regex += directive[1];
      i += 2;
      continue;
    }
    const token = TOKENS.find(([text]) => spec.startsWith(text, i));
    if (token) {
      const [text, kind, pattern] = token;
      const part: DatePart =
        kind === 'minuteOrMonth'
          ? parts[parts.length - 1] === 'hour' && regex.endsWith(':')
            ? 'minute'
            : 'month'
          : kind;
      parts.push(part);
      regex += pattern;
      i += text.length;
      continue;
    }
    regex += escapeRegex(spec[i]);
    i++;
  }
  regex += '$';
  const has = (p: DatePart) => parts.includes(p);
  if (!(has('year') || has('yearAny')) || !(has('month') || has('monthName')))
    throw new ImportRefused(
      `--date-format "${spec}" must name at least a year and a month, e.g. YYYY-MM-DD, M/D/YY H:MM or YYYYMMDD.`,
    );
  if (new Set(parts).size !== parts.length)
    throw new ImportRefused(`--date-format "${spec}" names a part twice (${parts.join(', ')}).`);
  return { label: spec, regex: new RegExp(regex, 'i'), parts };
}

const pad = (text: string, width = 2) => text.padStart(width, '0');

/**
 * The ISO text of a value matched by `format`: `YYYY-MM-DD HH:MM:SS[.f][ zone]`. It is not checked to
 * be a real date here (2/30 passes); the warehouse checks that. Undefined when the format does not fit.
 */
export function toIso(
  format: DateFormat,
  value: string,
): { iso: string; precision: DatePrecision } | undefined {
  const match = format.regex.exec(value);
  if (!match) return undefined;
  const get = (part: DatePart) => {
    const at = format.parts.indexOf(part);
    return at < 0 ? undefined : match[at + 1];
  };
  let year = get('year') ?? get('yearAny')!;
  if (year.length === 2) year = String((Number(year) < 69 ? 2000 : 1900) + Number(year));
  let month = get('month');
  const name = get('monthName');
  if (name !== undefined) {
    const index = MONTHS.indexOf(name.slice(0, 3).toLowerCase());
    if (index < 0) return undefined;
    month = String(index + 1);
  }
  const day = get('day');
  let hour = get('hour');
  const ampm = get('ampm')?.toUpperCase();
  if (hour !== undefined && ampm) {
    const h = Number(hour);
    if (h < 1 || h > 12) return undefined;
    hour = String(ampm === 'PM' ? (h % 12) + 12 : h % 12);
  }
  const fraction = get('fraction');
  const zone = get('zone');
  const iso =
    `${year}-${pad(month!)}-${pad(day ?? '1')} ${pad(hour ?? '0')}:${pad(get('minute') ?? '0')}:${pad(get('second') ?? '0')}` +
    `${fraction ? `.${fraction}` : ''}${zone ? ` ${zone}` : ''}`;
  const precision: DatePrecision = day === undefined ? 'month' : hour === undefined ? 'day' : 'time';
  return { iso, precision };
}

/** One date column's values as staged: ISO text, the day-first reading of a slash date, and its precision. */
export interface StagedDate {
  iso: string | undefined;
  /** For `1/2/2020`-like values only: the day-first reading (`iso` holds the month-first one). */
  dayFirst: string | undefined;
  precision: DatePrecision | undefined;
}

/** A read date's three staged columns, in the order the importers' rows tables list them (_date, _date_day_first, _date_precision). */
export const stagedDateValues = (read: StagedDate): (string | undefined)[] => [
  read.iso,
  read.dayFirst,
  read.precision,
];

/**
 * Recognises the values of one date column as they stream past and keeps the counts that decide the
 * file's reading at the end (see `decide`).
 */
export class DateColumn {
  private readonly given: DateFormat | undefined;
  private nonEmpty = 0;
  private unmatched = 0;
  private slash = 0;
  private firstOver12 = 0;
  private secondOver12 = 0;
  private readonly examples: { line: number; value: string }[] = [];
  private readonly used = new Map<string, number>();

  constructor(
    readonly label: string,
    givenFormat?: string,
  ) {
    this.given = givenFormat ? parseDateFormat(givenFormat) : undefined;
  }

  read(value: string | undefined, line: number): StagedDate {
    const text = value?.trim();
    if (!text) return { iso: undefined, dayFirst: undefined, precision: undefined };
    this.nonEmpty++;
    const formats = this.given ? [this.given] : AUTO_FORMATS;
    for (const format of formats) {
      const read = toIso(format, text);
      if (!read) continue;
      this.used.set(format.label, (this.used.get(format.label) ?? 0) + 1);
      if (format === MONTH_FIRST_FORMAT) {
        this.slash++;
        const [, first, second] = SLASH.exec(text)!;
        if (Number(first) > 12) this.firstOver12++;
        if (Number(second) > 12) this.secondOver12++;
        return { iso: read.iso, dayFirst: toIso(DAY_FIRST_FORMAT, text)?.iso, precision: read.precision };
      }
      return { iso: read.iso, dayFirst: undefined, precision: read.precision };
    }
    this.unmatched++;
    if (this.examples.length < 3) this.examples.push({ line, value: text });
    // No ISO text: the row is quarantined with the value as written (never left to a lenient parser).
    return { iso: undefined, dayFirst: undefined, precision: undefined };
  }

  /**
   * Once every value has been read: whether slash dates are day first, and notes for the summary.
   * Refuses when most values fit no format. `preferDayFirst` decides when no value does.
   */
  decide(preferDayFirst = false): { dayFirst: boolean; formats: string[]; notes: string[] } {
    const notes: string[] = [];
    const show = this.examples.map((e) => `"${e.value}" on line ${e.line}`).join(', ');
    if (this.nonEmpty > 0 && this.unmatched * 2 > this.nonEmpty)
      throw new ImportRefused(
        `Column ${this.label}: ${this.unmatched} of ${this.nonEmpty} values are no date ` +
          (this.given ? `in the format ${this.given.label}` : 'in a format I know') +
          `${show ? ` (e.g. ${show})` : ''}. ` +
          `Pass --date-format, e.g. --date-format "M/D/YY H:MM", "YYYYMMDD", "DD.MM.YYYY" or "%d/%m/%Y".`,
      );
    let dayFirst = preferDayFirst;
    if (this.slash > 0) {
      if (this.firstOver12 > 0 && this.secondOver12 === 0) dayFirst = true;
      else if (this.secondOver12 > 0 && this.firstOver12 === 0) dayFirst = false;
      else if (this.firstOver12 === 0 && this.secondOver12 === 0)
        notes.push(
          `${this.label}: no value shows whether dates like 1/2/2020 are month or day first; read as ` +
            `${dayFirst ? 'day' : 'month'} first. Pass --date-format to say otherwise.`,
        );
      else {
        dayFirst = this.firstOver12 > this.secondOver12;
        notes.push(
          `${this.label}: ${this.firstOver12} values can only be day first and ${this.secondOver12} only month first; ` +
            `read as ${dayFirst ? 'day' : 'month'} first, the others are quarantined.`,
        );
      }
    }
    const formats = [...this.used.entries()].map(([label, n]) =>
      label === MONTH_FIRST_FORMAT.label && dayFirst ? `${DAY_FIRST_FORMAT.label} (${n})` : `${label} (${n})`,
    );
    if (this.unmatched > 0)
      notes.push(
        `${this.label}: ${this.unmatched} value(s) fit no date format${show ? ` (e.g. ${show})` : ''}.`,
      );
    return { dayFirst, formats, notes };
  }
}

/**
 * SQL reading a staged date: the day-first text when the file's slash dates are day first, else the
 * ISO text, as a timestamptz in the session's time zone (the shop's) unless it names one; null when it
 * is no real date. `prefix` names the columns `<prefix>_iso` and `<prefix>_day_first`.
 */
export function dateValueSql(prefix: string, dayFirst: boolean): string {
  const text = dayFirst ? `coalesce(${prefix}_day_first, ${prefix}_iso)` : `${prefix}_iso`;
  return `(case when ops.input_is_valid(${text}, 'timestamptz') then (${text})::timestamptz end)`;
}

/** Like dateValueSql, for ISO and day-first texts given as SQL expressions (e.g. from JSON). */
export function dateFromTextSql(iso: string, dayFirstText: string, dayFirst: boolean): string {
  const text = dayFirst ? `coalesce(${dayFirstText}, ${iso})` : iso;
  return `(case when ops.input_is_valid(${text}, 'timestamptz') then (${text})::timestamptz end)`;
}
