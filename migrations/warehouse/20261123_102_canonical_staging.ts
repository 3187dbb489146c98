import type { Knex } from 'knex';

/**
 * cartflow's canonical entities, as each source's mapping returns them, before quality and the star
 * schema. Rebuilt for a source by every run from its staged tables, inside the transform's
 * transaction; unlogged, because nothing here is the only copy. Dates stay text as mapped (an
 * unparseable one is a quality finding, not a crash) next to their parsed value; `rule` is the first
 * quality rule the row broke, null for a clean row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create unlogged table staging.canonical_customers (
      source        text not null,
      customer_id   text,
      email         text,
      first_name    text,
      last_name     text,
      company_name  text,
      address_line  text,
      city          text,
      state         text,
      postal_code   text,
      country       text,
      signup_at     text,
      changed_at    text,
      signup_at_ts  timestamptz,
      changed_at_ts timestamptz,
      rule          text,
      detail        text
    );
    create index canonical_customers_key on staging.canonical_customers (source, customer_id);

    create unlogged table staging.canonical_products (
      source        text not null,
      product_id    text,
      sku           text,
      name          text,
      category      text,
      brand         text,
      price         numeric,
      changed_at    text,
      changed_at_ts timestamptz,
      rule          text,
      detail        text
    );
    create index canonical_products_key on staging.canonical_products (source, product_id);

    create unlogged table staging.canonical_orders (
      source        text not null,
      order_id      text,
      customer_id   text,
      status        text,
      placed_at     text,
      currency      text,
      changed_at    text,
      placed_at_ts  timestamptz,
      changed_at_ts timestamptz,
      rule          text,
      detail        text
    );
    create index canonical_orders_key on staging.canonical_orders (source, order_id);

    create unlogged table staging.canonical_order_lines (
      source        text not null,
      order_line_id text,
      order_id      text,
      product_id    text,
      quantity      numeric,
      unit_price    numeric,
      discount      numeric,
      changed_at    text,
      changed_at_ts timestamptz,
      rule          text,
      detail        text
    );
    create index canonical_order_lines_key on staging.canonical_order_lines (source, order_line_id);
    create index canonical_order_lines_order on staging.canonical_order_lines (source, order_id);

    create unlogged table staging.canonical_payments (
      source        text not null,
      payment_id    text,
      order_id      text,
      amount        numeric,
      method        text,
      status        text,
      paid_at       text,
      changed_at    text,
      paid_at_ts    timestamptz,
      changed_at_ts timestamptz,
      rule          text,
      detail        text
    );
    create index canonical_payments_key on staging.canonical_payments (source, payment_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists staging.canonical_payments, staging.canonical_order_lines, staging.canonical_orders,
      staging.canonical_products, staging.canonical_customers
  `);
}
