/**
 * Small, pure helpers that clean single values as they stream past: column names matched loosely,
 * numbers written the ways spreadsheets write them, identifiers a spreadsheet turned into floats.
 */

/** `Customer ID`, `customer_id` and `CustomerID` are the same column. */
export function normalizeColumnName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * A number as Postgres reads it, or the trimmed text unchanged when it is no number (the warehouse
 * then quarantines it under `unparseable_number`); undefined for an empty value. Accepts `1,234.50`,
 * `£12.50`, `(12.50)` for −12.50, and with `decimalComma` `12,50` and `1.234,50`.
 */
export function normalizeNumber(text: string | undefined, decimalComma = false): string | undefined {
  if (text === undefined) return undefined;
  let value = text.trim();
  if (value === '') return undefined;
  let negative = false;
  if (/^\(.*\)$/.test(value)) {
    negative = true;
    value = value.slice(1, -1).trim();
  }
  if (value.startsWith('-')) {
    negative = !negative;
    value = value.slice(1).trim();
  } else if (value.startsWith('+')) value = value.slice(1).trim();
  value = value.replace(/^[$€£¥]\s*/, '').replace(/\s*[$€£¥]$/, '');
  if (decimalComma) {
    if (/^\d{1,3}(\.\d{3})+(,\d+)?$/.test(value)) value = value.replace(/\./g, '');
    value = value.replace(/^(\d*),(\d+)$/, '$1.$2');
  } else if (/^\d{1,3}(,\d{3})+(\.\d+)?$/.test(value)) value = value.replace(/,/g, '');
  if (!/^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value)) return text.trim();
  return negative ? `-${value}` : value;
}

/** An identifier a spreadsheet stored as a float (`17850.0`) back as it was meant (`17850`). */
export function normalizeIdentifier(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const value = text.trim();
  if (value === '') return undefined;
  return /^\d+\.0+$/.test(value) ? value.replace(/\.0+$/, '') : value;
}

/** A source name from a file name: `salon-transactions.csv.gz` → `salon_transactions`. */
export function sourceNameFromFile(fileName: string): string {
  const stem = fileName
    .replace(/(\.(gz|gzip))?$/i, '')
    .replace(/\.(csv|tsv|txt|dat|json|jsonl|ndjson|log)$/i, '');
  let name = stem
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!/^[a-z]/.test(name)) name = `file_${name}`;
  return name.slice(0, 30).replace(/_+$/, '');
}

export const SOURCE_NAME = /^[a-z][a-z0-9_]{0,29}$/;
