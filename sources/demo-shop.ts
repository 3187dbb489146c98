import type { SourceDefinition } from './definition';

/**
 * The demo storefront's database (migrations/shop) as a source: every table has a trigger-maintained
 * `updated_at`, so every table loads incrementally. Its mapping is nearly one-to-one, because the demo
 * shop was designed with cartflow in mind; docs/pipeline.md shows one for a shop that was not.
 */
export const DEMO_SHOP_SOURCE: SourceDefinition = {
  name: 'shop',
  description: 'The demo storefront (cartflow simulate fills it)',
  connection: { kind: 'demo-shop', schema: 'public' },
  copyFormat: 'binary',
  tables: [
    { name: 'customers', primaryKey: ['customer_id'], cursor: 'updated_at' },
    { name: 'products', primaryKey: ['product_id'], cursor: 'updated_at' },
    { name: 'orders', primaryKey: ['order_id'], cursor: 'updated_at' },
    { name: 'order_lines', primaryKey: ['order_line_id'], cursor: 'updated_at' },
    { name: 'payments', primaryKey: ['payment_id'], cursor: 'updated_at' },
  ],
  mapping: {
    customers: `
      select customer_id, email, first_name, last_name, address_line, city, state, postal_code, country,
             signup_at, updated_at as changed_at
        from customers`,
    products: `
      select product_id, sku, name, category, brand, price, updated_at as changed_at
        from products`,
    orders: `
      select order_id, customer_id, status, placed_at, currency, updated_at as changed_at
        from orders`,
    orderLines: `
      select order_line_id, order_id, product_id, quantity, unit_price, discount, updated_at as changed_at
        from order_lines`,
    payments: `
      select payment_id, order_id, amount, method, status, paid_at, updated_at as changed_at
        from payments`,
  },
};
