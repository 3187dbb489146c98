import type { Knex } from 'knex';

/**
 * The recommendations' marts (docs/models-recommendations.md), each keyed by the logical date and
 * carrying the version that wrote it: the API reads the rows of one version, the latest succeeded one,
 * so a new fit's rows replace the old ones for readers all at once.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table mart.recommendations (
      as_of        date not null,
      source       text not null,
      customer_id  text not null,
      rank         smallint not null,
      product_id   text not null,
      score        double precision not null,
      method       text not null check (method in ('factorisation', 'co-occurrence', 'popular')),
      version_id   bigint not null,
      primary key (as_of, source, customer_id, rank)
    );
    create index recommendations_by_version on mart.recommendations (version_id, customer_id, rank);
    comment on table mart.recommendations is
      'Products recommended to each customer with an interaction up to as_of, best first, and the recommender that chose each (docs/models-recommendations.md).';

    create table mart.related_products (
      as_of              date not null,
      source             text not null,
      product_id         text not null,
      rank               smallint not null,
      related_product_id text not null,
      score              double precision not null,
      version_id         bigint not null,
      primary key (as_of, source, product_id, rank)
    );
    create index related_products_by_version on mart.related_products (version_id, product_id, rank);
    comment on table mart.related_products is
      'Products bought together (same order or same session) with each product, by cosine co-occurrence, best first.';

    create table mart.popular_products (
      as_of        date not null,
      source       text not null,
      category     text not null,
      rank         integer not null,
      product_id   text not null,
      score        double precision not null,
      version_id   bigint not null,
      primary key (as_of, source, category, rank)
    );
    create index popular_products_by_version on mart.popular_products (version_id, category, rank);
    comment on table mart.popular_products is
      'Products by distinct buyers in the recent window (then ever), overall (category = '''') and within each category.';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop table if exists mart.recommendations, mart.related_products, mart.popular_products`);
}
