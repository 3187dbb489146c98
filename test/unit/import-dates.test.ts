import { DateColumn, parseDateFormat, toIso, AUTO_FORMATS } from '../../imports/dates';
import { ImportRefused } from '../../imports/input';

/** The ISO text the first auto format that fits gives, as DateColumn does. */
function auto(value: string) {
  for (const format of AUTO_FORMATS) {
    const read = toIso(format, value);
    if (read) return read;
  }
  return undefined;
}

describe('dates of imported files', () => {
  it.each([
    ['12/1/10 8:26', '2010-12-01 08:26:00', 'time'],
    ['6/26/11 10:59', '2011-06-26 10:59:00', 'time'],
    ['12/1/2010 8:26:00 PM', '2010-12-01 20:26:00', 'time'],
    ['12/1/2010 12:05 AM', '2010-12-01 00:05:00', 'time'],
    ['2020-01', '2020-01-01 00:00:00', 'month'],
    ['2020-10-01 00:00:00', '2020-10-01 00:00:00', 'time'],
    ['2011-06-26', '2011-06-26 00:00:00', 'day'],
    ['2019-10-01 00:00:00 UTC', '2019-10-01 00:00:00 UTC', 'time'],
    ['2024-03-01T10:15:00.250+01:00', '2024-03-01 10:15:00.250 +01:00', 'time'],
    ['19970101', '1997-01-01 00:00:00', 'day'],
    ['01.12.2010 08:26', '2010-12-01 08:26:00', 'time'],
    ['1-Dec-2010', '2010-12-01 00:00:00', 'day'],
    ['Dec 1, 2010', '2010-12-01 00:00:00', 'day'],
    ['1/2/69', '1969-01-02 00:00:00', 'day'],
    ['1/2/68', '2068-01-02 00:00:00', 'day'],
  ])('recognises %s as %s (%s)', (value, iso, precision) => {
    expect(auto(value)).toEqual({ iso, precision });
  });

  it.each(['yesterday', 'now', '2020', '13', '2020-01-01-01', '1997131', ''])(
    'recognises no date in %j',
    (value) => {
      expect(auto(value)).toBeUndefined();
    },
  );

  it('reads --date-format as people write it: H:MM is minutes, M/D is month and day', () => {
    expect(toIso(parseDateFormat('M/D/YY H:MM'), '12/1/10 8:26')).toEqual({
      iso: '2010-12-01 08:26:00',
      precision: 'time',
    });
    expect(toIso(parseDateFormat('YYYYMMDD'), '19970131')).toEqual({
      iso: '1997-01-31 00:00:00',
      precision: 'day',
    });
    expect(toIso(parseDateFormat('DD/MM/YYYY'), '31/01/1997')).toEqual({
      iso: '1997-01-31 00:00:00',
      precision: 'day',
    });
    expect(toIso(parseDateFormat('%d/%m/%Y %H:%M'), '31/01/1997 23:59')).toEqual({
      iso: '1997-01-31 23:59:00',
      precision: 'time',
    });
    expect(toIso(parseDateFormat('YYYY-MM'), '2020-07')).toEqual({
      iso: '2020-07-01 00:00:00',
      precision: 'month',
    });
    expect(toIso(parseDateFormat('YYYYMMDD'), '1997-01-31')).toBeUndefined();
  });

  it('refuses a --date-format without a year and a month, or with a part twice', () => {
    expect(() => parseDateFormat('HH:mm')).toThrow(ImportRefused);
    expect(() => parseDateFormat('YYYY-MM-DD YYYY')).toThrow(/names a part twice/);
    expect(() => parseDateFormat('%Q')).toThrow(/%Q is not a date directive/);
  });

  it('decides month or day first from the whole column, and says so when nothing decides', () => {
    const us = new DateColumn('InvoiceDate');
    ['12/1/10 8:26', '12/13/10 9:00'].forEach((v, i) => us.read(v, i + 2));
    expect(us.decide().dayFirst).toBe(false);

    const european = new DateColumn('Date');
    const first = european.read('1/2/2020', 2);
    european.read('13/2/2020', 3);
    expect(european.decide().dayFirst).toBe(true);
    expect(first).toEqual({ iso: '2020-01-02 00:00:00', dayFirst: '2020-02-01 00:00:00', precision: 'day' });

    const unclear = new DateColumn('Date');
    unclear.read('1/2/2020', 2);
    const decided = unclear.decide(true);
    expect(decided.dayFirst).toBe(true);
    expect(decided.notes.join(' ')).toMatch(
      /no value shows whether dates like 1\/2\/2020 are month or day first/,
    );
  });

  it('keeps a value no format fits out of the ISO text, and refuses a column where most values fit none', () => {
    const column = new DateColumn('Date');
    expect(column.read('yesterday', 2)).toEqual({
      iso: undefined,
      dayFirst: undefined,
      precision: undefined,
    });
    column.read('2020-01-01', 3);
    column.read('2020-01-02', 4);
    expect(column.decide().notes.join(' ')).toMatch(
      /1 value\(s\) fit no date format \(e.g. "yesterday" on line 2\)/,
    );

    const bad = new DateColumn('Date');
    bad.read('soon', 2);
    bad.read('later', 3);
    bad.read('2020-01-01', 4);
    expect(() => bad.decide()).toThrow(
      /Column Date: 2 of 3 values are no date in a format I know \(e.g. "soon" on line 2/,
    );
  });
});
