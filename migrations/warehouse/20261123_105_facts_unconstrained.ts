import type { Knex } from 'knex';

/**
 * The facts are written in bulk by the pipeline, which joins every fact to its dimensions before
 * writing it: referential integrity holds by construction (and the pipeline's tests check it).
 * Foreign-key triggers fired once per row, and the secondary indexes on low-cardinality keys
 * (a few hundred dates, a few thousand products) cost four times the insert itself; both go. Queries
 * over the facts scan them; add indexes for your own access paths where they pay.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table core.fact_order_line
      drop constraint if exists fact_order_line_date_key_fkey,
      drop constraint if exists fact_order_line_customer_key_fkey,
      drop constraint if exists fact_order_line_product_key_fkey;
    alter table core.fact_payment
      drop constraint if exists fact_payment_date_key_fkey,
      drop constraint if exists fact_payment_customer_key_fkey;
    drop index if exists core.fact_order_line_by_date;
    drop index if exists core.fact_order_line_by_customer;
    drop index if exists core.fact_order_line_by_product;
    drop index if exists core.fact_payment_by_date;
    comment on column core.fact_order_line.date_key is 'core.dim_date (date_key); integrity kept by the pipeline';
    comment on column core.fact_order_line.customer_key is 'core.dim_customer (customer_key), the version valid at placed_at; 0 is the unknown customer';
    comment on column core.fact_order_line.product_key is 'core.dim_product (product_key), the version valid at placed_at';
    comment on column core.fact_payment.customer_key is 'core.dim_customer (customer_key), the version valid at paid_at; 0 is the unknown customer';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    create index fact_order_line_by_date on core.fact_order_line (date_key);
    create index fact_order_line_by_customer on core.fact_order_line (customer_key);
    create index fact_order_line_by_product on core.fact_order_line (product_key);
    create index fact_payment_by_date on core.fact_payment (date_key);
    alter table core.fact_order_line
      add foreign key (date_key) references core.dim_date (date_key),
      add foreign key (customer_key) references core.dim_customer (customer_key),
      add foreign key (product_key) references core.dim_product (product_key);
    alter table core.fact_payment
      add foreign key (date_key) references core.dim_date (date_key),
      add foreign key (customer_key) references core.dim_customer (customer_key);
  `);
}
