import type { Knex } from 'knex';

/**
 * The demo storefront's OLTP schema: what a small online shop's database looks like. Every table has
 * `created_at` and `updated_at`, maintained by a trigger, so extract-load can take what changed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function touch_updated_at() returns trigger language plpgsql as $$
    begin
      new.updated_at := now();
      return new;
    end $$;

    create table customers (
      customer_id       bigint primary key,
      first_name        text,
      last_name         text,
      email             text,
      marketing_consent boolean not null default false,
      address_line      text,
      city              text,
      state             text,
      postal_code       text,
      country           text,
      birth_year        integer,
      gender            text,
      signup_at         timestamptz not null,
      created_at        timestamptz not null default now(),
      updated_at        timestamptz not null default now()
    );

    create table products (
      product_id  bigint primary key,
      sku         text not null unique,
      name        text not null,
      category    text,
      brand       text,
      price       numeric(12, 2) not null,
      stock       integer not null default 0,
      created_at  timestamptz not null default now(),
      updated_at  timestamptz not null default now()
    );

    create table orders (
      order_id     bigint primary key,
      customer_id  bigint references customers (customer_id),
      status       text not null check (status in ('placed', 'paid', 'shipped', 'cancelled', 'returned')),
      placed_at    timestamptz not null,
      currency     text not null default 'EUR',
      created_at   timestamptz not null default now(),
      updated_at   timestamptz not null default now()
    );
    create index orders_by_customer on orders (customer_id);

    create table order_lines (
      order_line_id bigint primary key,
      order_id      bigint not null references orders (order_id),
      product_id    bigint references products (product_id),
      quantity      integer,
      unit_price    numeric(12, 2),
      discount      numeric(5, 4) not null default 0,
      created_at    timestamptz not null default now(),
      updated_at    timestamptz not null default now()
    );
    create index order_lines_by_order on order_lines (order_id);

    create table payments (
      payment_id  bigint primary key,
      order_id    bigint not null references orders (order_id),
      amount      numeric(12, 2) not null,
      method      text not null,
      status      text not null check (status in ('captured', 'refunded', 'failed')),
      paid_at     timestamptz not null,
      created_at  timestamptz not null default now(),
      updated_at  timestamptz not null default now()
    );
    create index payments_by_order on payments (order_id);

    create table site_events (
      event_id     uuid primary key,
      event_time   timestamptz not null,
      event_type   text not null check (event_type in ('view', 'cart', 'remove_from_cart', 'purchase')),
      customer_id  bigint,
      session_id   text not null,
      product_id   bigint,
      price        numeric(12, 2),
      quantity     integer not null default 1,
      created_at   timestamptz not null default now(),
      updated_at   timestamptz not null default now()
    );
    create index site_events_by_time on site_events (event_time);
  `);
  for (const table of ['customers', 'products', 'orders', 'order_lines', 'payments', 'site_events']) {
    await knex.raw(`create index ?? on ?? (updated_at)`, [`${table}_by_updated_at`, table]);
    await knex.raw(`create trigger ?? before update on ?? for each row execute function touch_updated_at()`, [
      `${table}_touch_updated_at`,
      table,
    ]);
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists site_events, payments, order_lines, orders, products, customers;
    drop function if exists touch_updated_at();
  `);
}
