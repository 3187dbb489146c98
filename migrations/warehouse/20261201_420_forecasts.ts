import type { Knex } from 'knex';

/**
 * The forecasts' mart (docs/models-forecast.md): per logical date, per series (the shop's daily net
 * revenue and orders, the best sellers' daily units) and per day ahead, the point forecast, its 80% and
 * 95% prediction intervals and the method that served the series (the additive model or a baseline
 * that beat it in the backtest). The backtest itself is in the version's metrics.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table mart.forecast (
      as_of           date not null,
      series          text not null check (series in ('revenue', 'orders', 'units')),
      product_source  text not null default '',
      product_id      text not null default '',
      date            date not null,
      days_ahead      smallint not null check (days_ahead >= 1),
      point           double precision not null,
      lower_80        double precision not null,
      upper_80        double precision not null,
      lower_95        double precision not null,
      upper_95        double precision not null,
      method          text not null check (method in ('additive', 'seasonal_naive', 'weekday_mean')),
      version_id      bigint not null,
      primary key (as_of, series, product_source, product_id, date),
      check (lower_95 <= lower_80 and lower_80 <= point and point <= upper_80 and upper_80 <= upper_95)
    );
    comment on table mart.forecast is
      'Daily forecasts 1 to 30 days after as_of from the facts up to as_of: net revenue and orders of the shop (product_source and product_id empty) and units of the best sellers of the last 90 days, with 80% and 95% prediction intervals and the serving method (docs/models-forecast.md).';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop table if exists mart.forecast`);
}
