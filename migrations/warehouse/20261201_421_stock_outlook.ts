import type { Knex } from 'knex';

/**
 * The products' week ahead (docs/models-forecast.md, Stock outlook): per logical date and product, the
 * probability that it sells in the 7 days after as_of (logistic), its expected units (Poisson), its
 * stock in the shop database when that has one, the days that stock lasts at the expected rate, and
 * its rank by expected units.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table mart.stock_outlook (
      as_of                 date not null,
      source                text not null,
      product_id            text not null,
      probability_sells_7d  double precision not null check (probability_sells_7d between 0 and 1),
      expected_units_7d     double precision not null check (expected_units_7d >= 0),
      stock                 numeric,
      days_of_stock         double precision,
      rank                  integer not null,
      version_id            bigint not null,
      primary key (as_of, source, product_id)
    );
    comment on table mart.stock_outlook is
      'Per product: the probability it sells in the 7 days after as_of and its expected units, from the facts and storefront events up to as_of; stock from the shop database (null when it has none) and the days it lasts at the expected rate; rank 1 sells the most units (docs/models-forecast.md).';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop table if exists mart.stock_outlook`);
}
