import type pg from 'pg';

/** Each shop table with the key that orders its rows. */
const TABLE_KEYS = {
  customers: 'customer_id',
  products: 'product_id',
  orders: 'order_id',
  order_lines: 'order_line_id',
  payments: 'payment_id',
  site_events: 'event_id',
} as const;

export type ShopFingerprint = Record<keyof typeof TABLE_KEYS, string>;

/**
 * An md5 over every row of every shop table, in key order: two shops with equal fingerprints hold
 * the same data, column for column (timestamps included).
 */
export async function shopFingerprint(shop: pg.Pool): Promise<ShopFingerprint> {
  const select = Object.entries(TABLE_KEYS)
    // md5 of the rows' md5s: 32 bytes per row to aggregate, so even millions of events stay far below
    // Postgres's 1 GB limit for one text value.
    .map(
      ([table, key]) =>
        `(select coalesce(md5(string_agg(md5(t::text), '' order by ${key})), 'empty') from ${table} t) as ${table}`,
    )
    .join(', ');
  const { rows } = await shop.query<ShopFingerprint>(`select ${select}`);
  return rows[0];
}
