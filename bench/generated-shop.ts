import type pg from 'pg';

/**
 * A demo shop of `customers` customers and `lines` order lines (four per order) over the year up to
 * 2026-11-20, with payments, a few price and address changes' worth of history, and the dirt a real
 * shop has: negative quantities and prices, double-submitted lines.
 */
export async function generateShop(shop: pg.Pool, customers: number, lines: number): Promise<void> {
  const orders = Math.ceil(lines / 4);
  const client = await shop.connect();
  try {
    await client.query('set session_replication_role = replica');
    await client.query(`
      insert into customers (customer_id, first_name, last_name, email, address_line, city, state, postal_code, country,
                             signup_at, created_at, updated_at)
      select g, 'First' || g, 'Last' || g, case when g % 50 = 0 then null else 'c' || g || '@example.com' end,
             g || ' Main Street', 'Town ' || (g % 500), 'State ' || (g % 20), lpad((g % 99999)::text, 5, '0'), 'DE',
             timestamptz '2025-01-01T00:00:00Z' + (g % 300) * interval '1 day', now(), now()
        from generate_series(1, ${customers}) g`);
    await client.query(`
      insert into products (product_id, sku, name, category, brand, price, stock)
      select g, 'SKU-' || g, 'Product ' || g, 'Category ' || (g % 12), 'Brand ' || (g % 40), ((g % 80) + 1) * 1.25, 100
        from generate_series(1, 2000) g`);
    await client.query(`
      insert into orders (order_id, customer_id, status, placed_at, currency, created_at, updated_at)
      select g, 1 + (g * 7919) % ${customers},
             (array['paid', 'shipped', 'shipped', 'shipped', 'cancelled', 'returned', 'placed'])[1 + g % 7],
             timestamptz '2025-11-21T00:00:00Z' + (g::float8 / ${orders}) * interval '365 days', 'EUR', now(), now()
        from generate_series(1, ${orders}) g`);
    await client.query(`
      insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, discount)
      select g, 1 + (g - 1) / 4, 1 + ((g - 1) % 4) * 500 + (g * 31) % 500,
             case when g % 331 = 0 then -1 else 1 + g % 4 end,
             case when g % 509 = 0 then -9.99 else ((g % 80) + 1) * 1.25 end, (g % 3) * 0.05
        from generate_series(1, ${lines}) g`);
    // Double-submitted checkouts: one line in 200 written twice under a new id.
    await client.query(`
      insert into order_lines (order_line_id, order_id, product_id, quantity, unit_price, discount)
      select ${lines} + row_number() over (), order_id, product_id, quantity, unit_price, discount
        from order_lines where order_line_id % 200 = 7`);
    await client.query(`
      insert into payments (payment_id, order_id, amount, method, status, paid_at)
      select o.order_id, o.order_id, coalesce(sum(l.quantity * l.unit_price * (1 - l.discount)), 0)::numeric(12, 2),
             (array['card', 'paypal', 'invoice'])[1 + o.order_id % 3],
             case when o.status = 'returned' then 'refunded' else 'captured' end, o.placed_at + interval '5 minutes'
        from orders o join order_lines l using (order_id)
       where o.status <> 'placed'
       group by o.order_id`);
  } finally {
    client.release();
  }
  await shop.query('vacuum analyze');
}
