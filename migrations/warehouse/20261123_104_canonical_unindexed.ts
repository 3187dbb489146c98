import type { Knex } from 'knex';

/**
 * The canonical tables are rewritten whole by every run and read by hash joins after an `analyze`:
 * their indexes cost more to maintain (half the mapping's time) than they save.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    drop index if exists staging.canonical_customers_key;
    drop index if exists staging.canonical_products_key;
    drop index if exists staging.canonical_orders_key;
    drop index if exists staging.canonical_order_lines_key;
    drop index if exists staging.canonical_order_lines_order;
    drop index if exists staging.canonical_payments_key;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    create index canonical_customers_key on staging.canonical_customers (source, customer_id);
    create index canonical_products_key on staging.canonical_products (source, product_id);
    create index canonical_orders_key on staging.canonical_orders (source, order_id);
    create index canonical_order_lines_key on staging.canonical_order_lines (source, order_line_id);
    create index canonical_order_lines_order on staging.canonical_order_lines (source, order_id);
    create index canonical_payments_key on staging.canonical_payments (source, payment_id);
  `);
}
