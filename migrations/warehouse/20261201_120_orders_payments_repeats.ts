import type { Knex } from 'knex';

/**
 * - `core.fact_order`: one row per order, with or without lines (an order of no lines is counted).
 * - A payment may name its own customer (someone other than the order's customer pays), so the
 *   canonical payments get `customer_id`.
 * - A source may say that repeated identical order lines are one line with their quantities added
 *   (`duplicates: "sum"`): the merged line remembers how many source lines it stands for
 *   (`source_lines`), so reconciliation still finds every source line.
 * - `cartflow import payments` records its files in `ops.imports` like the other kinds.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table staging.canonical_payments add column customer_id text;
    alter table staging.canonical_order_lines add column source_lines integer not null default 1;
    alter table core.fact_order_line add column source_lines integer not null default 1;
    comment on column core.fact_order_line.source_lines is
      'How many source lines this fact stands for: 1, or more when the source sums repeated identical lines (duplicates = sum)';

    create table core.fact_order (
      source        text not null,
      order_id      text not null,
      status        text not null,
      customer_key  bigint not null,
      placed_at     timestamptz not null,
      date_key      integer not null,
      currency      text,
      line_count    integer not null,
      item_quantity numeric not null,
      gross_amount  numeric not null,
      net_amount    numeric not null,
      paid_amount   numeric not null,
      run_id        text not null,
      primary key (source, order_id)
    );
    comment on table core.fact_order is
      'Grain: one order, with or without lines. line_count, item_quantity, gross_amount (quantity * unit_price) and net_amount (after discount) add up its order-line facts; paid_amount its payments that did not fail (refunds are negative). customer_key is the customer version valid at placed_at (0 unknown); date_key of placed_at in the shop''s time zone.';

    alter table ops.imports drop constraint if exists imports_kind_check;
    alter table ops.imports add constraint imports_kind_check
      check (kind in ('online-retail', 'transactions', 'documents', 'rees46', 'payments'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    delete from ops.imports where kind = 'payments';
    alter table ops.imports drop constraint if exists imports_kind_check;
    alter table ops.imports add constraint imports_kind_check
      check (kind in ('online-retail', 'transactions', 'documents', 'rees46'));
    drop table if exists core.fact_order;
    alter table core.fact_order_line drop column if exists source_lines;
    alter table staging.canonical_order_lines drop column if exists source_lines;
    alter table staging.canonical_payments drop column if exists customer_id;
  `);
}
