import { resolveColumns } from '../../imports/columns';
import { sniffDelimiter, resolveDelimiter, WHITESPACE } from '../../imports/delimited';
import { ImportRefused } from '../../imports/input';
import { normalizeIdentifier, normalizeNumber, sourceNameFromFile } from '../../imports/values';

describe('values of imported files', () => {
  it.each([
    ['12.50', false, '12.50'],
    [' -6 ', false, '-6'],
    ['1,234.50', false, '1234.50'],
    ['£2.55', false, '2.55'],
    ['(12.50)', false, '-12.50'],
    ['12,50', true, '12.50'],
    ['1.234,50', true, '1234.50'],
    ['1e3', false, '1e3'],
    ['.5', false, '.5'],
    ['twelve', false, 'twelve'],
    ['1,2,3', false, '1,2,3'],
  ])('reads the number %j (decimal comma %s) as %j', (text, comma, expected) => {
    expect(normalizeNumber(text, comma)).toBe(expected);
  });

  it('treats an empty number as missing, and a float-looking id as the id it was', () => {
    expect(normalizeNumber('  ')).toBeUndefined();
    expect(normalizeIdentifier('17850.0')).toBe('17850');
    expect(normalizeIdentifier('00001')).toBe('00001');
    expect(normalizeIdentifier('17850.5')).toBe('17850.5');
  });

  it('names a source after its file', () => {
    expect(sourceNameFromFile('salon-transactions.csv')).toBe('salon_transactions');
    expect(sourceNameFromFile('CDNOW_master.txt.gz')).toBe('cdnow_master');
    expect(sourceNameFromFile('2019 Oct.jsonl')).toBe('file_2019_oct');
  });

  it('tells the delimiter from the first line', () => {
    expect(sniffDelimiter('InvoiceNo,StockCode,Description')).toBe(',');
    expect(sniffDelimiter('a\tb\tc')).toBe('\t');
    expect(sniffDelimiter('a;b;"c;d"')).toBe(';');
    expect(sniffDelimiter('"a,b";c;d')).toBe(';');
    expect(sniffDelimiter('   00001 19970101  1  11.77')).toBe(WHITESPACE);
    expect(sniffDelimiter('single')).toBe(',');
    expect(resolveDelimiter('tab')).toBe('\t');
    expect(resolveDelimiter('|')).toBe('|');
  });

  it('finds columns by loose name, explicit name or number, and names what is missing', () => {
    const header = ['Invoice', 'Customer ID', 'Price'];
    const roles = [
      { role: 'invoice', aliases: ['InvoiceNo', 'Invoice'], required: true },
      { role: 'customer', aliases: ['CustomerID'], required: false },
      { role: 'amount', aliases: ['Total'], required: true, option: '--amount' },
    ];
    expect(resolveColumns('f.csv', header, roles, { amount: '3' })).toEqual({
      invoice: 0,
      customer: 1,
      amount: 2,
    });
    expect(resolveColumns('f.csv', header, roles, { amount: 'price' })).toEqual({
      invoice: 0,
      customer: 1,
      amount: 2,
    });
    expect(() => resolveColumns('f.csv', header, roles)).toThrow(
      'f.csv: no Total column. The header is "Invoice", "Customer ID", "Price". Name it with --amount COLUMN.',
    );
    expect(() => resolveColumns('f.csv', header, roles, { amount: 'Sum' })).toThrow(ImportRefused);
  });
});
