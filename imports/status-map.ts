/**
 * How a file's own status values become cartflow's: a small table of value → status, compared
 * lowercased and trimmed, with a fallback for every value it does not list. The defaults are
 * documented in docs/imports.md; `--status-map "storno=cancelled,retour=returned,*=shipped"` adds
 * or replaces entries (`*` is the fallback).
 */
import { ImportRefused } from './input';
import { literal } from './sql';

export interface StatusMap {
  /** Lowercased value → status. */
  values: Record<string, string>;
  /** The status of a value the table does not list, or of an empty value. */
  otherwise: string;
}

/** An order's status in a sales log (`cartflow import transactions --status`). */
export const ORDER_STATUS_MAP: StatusMap = {
  values: {
    cancelled: 'cancelled',
    canceled: 'cancelled',
    void: 'cancelled',
    refunded: 'returned',
    returned: 'returned',
  },
  otherwise: 'paid',
};
export const ORDER_STATUSES = ['placed', 'paid', 'shipped', 'cancelled', 'returned'];

/** A payment's status (`cartflow import payments --status`); a negative amount is a refund anyway. */
export const PAYMENT_STATUS_MAP: StatusMap = {
  values: {
    refunded: 'refunded',
    refund: 'refunded',
    chargeback: 'refunded',
    failed: 'failed',
    declined: 'failed',
    void: 'failed',
    cancelled: 'failed',
    canceled: 'failed',
  },
  otherwise: 'captured',
};
export const PAYMENT_STATUSES = ['captured', 'refunded', 'failed'];

/**
 * The defaults with the entries of a `--status-map` option (`value=status,…`, `*=status` for the
 * fallback) on top; refuses an entry that is malformed or maps onto a status cartflow does not have.
 */
export function statusMap(base: StatusMap, statuses: string[], option: string | undefined): StatusMap {
  const map: StatusMap = { values: { ...base.values }, otherwise: base.otherwise };
  if (option === undefined) return map;
  for (const entry of option.split(',')) {
    const match = /^\s*([^=]+?)\s*=\s*([a-z]+)\s*$/i.exec(entry);
    if (!match)
      throw new ImportRefused(
        `--status-map: "${entry.trim()}" is not value=status; write e.g. "storno=cancelled,retour=returned,*=paid".`,
      );
    const [, value, status] = match;
    if (!statuses.includes(status.toLowerCase()))
      throw new ImportRefused(
        `--status-map: "${value}" maps onto "${status}", which is none of cartflow's statuses (${statuses.join(', ')}).`,
      );
    if (value === '*') map.otherwise = status.toLowerCase();
    else map.values[value.toLowerCase()] = status.toLowerCase();
  }
  return map;
}

/** The SQL `case` that maps the text expression `column` by `map`. */
export function statusSql(column: string, map: StatusMap): string {
  const cases = Object.entries(map.values)
    .map(([value, status]) => `when ${literal(value)} then ${literal(status)}`)
    .join(' ');
  return `(case lower(btrim(${column})) ${cases} else ${literal(map.otherwise)} end)`;
}
