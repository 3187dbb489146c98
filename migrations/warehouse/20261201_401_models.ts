import type { Knex } from 'knex';

/**
 * The models' bookkeeping and their marts. Every fit is a row of `ops.model_versions`; every mart row
 * carries the logical date it was computed for (`as_of`) and the version that wrote it. A fit replaces
 * its date's rows in one transaction, so a failed fit leaves the last good rows in place.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table ops.model_versions (
      version_id    bigint generated always as identity primary key,
      model         text not null,
      as_of         date not null,
      status        text not null check (status in ('succeeded', 'failed')),
      parameters    jsonb not null default '{}',
      metrics       jsonb not null default '{}',
      training_rows bigint not null default 0,
      output_rows   bigint not null default 0,
      duration_ms   integer not null default 0,
      backend       text not null,
      code_version  text not null,
      run_id        text,
      error         text,
      created_at    timestamptz not null default now()
    );
    create index model_versions_by_model_date on ops.model_versions (model, as_of, version_id desc);
    comment on table ops.model_versions is
      'One row per model fit: the model, the logical date whose facts it used (up to and including as_of), its parameters and metrics, how many rows it trained on and wrote, the TensorFlow.js backend (or float64-js) and the code version.';

    create table mart.rfm (
      as_of         date not null,
      source        text not null,
      customer_id   text not null,
      recency_days  integer not null,
      frequency     integer not null,
      monetary      numeric not null,
      r_score       smallint not null,
      f_score       smallint not null,
      m_score       smallint not null,
      rfm_cell      text not null,
      segment       text not null,
      action        text not null,
      version_id    bigint not null,
      primary key (as_of, source, customer_id)
    );
    comment on table mart.rfm is
      'RFM scores and segment per customer with at least one purchase up to as_of (docs/models.md, RFM).';

    create table mart.clusters (
      as_of         date not null,
      source        text not null,
      customer_id   text not null,
      cluster       smallint not null,
      cluster_name  text not null,
      version_id    bigint not null,
      primary key (as_of, source, customer_id)
    );
    comment on table mart.clusters is 'The k-means cluster of each customer of mart.rfm (docs/models.md, Clusters).';

    create table mart.cluster_centroids (
      as_of         date not null,
      cluster       smallint not null,
      cluster_name  text not null,
      customers     integer not null,
      recency_days  double precision not null,
      frequency     double precision not null,
      monetary      double precision not null,
      centroid_z    double precision[] not null,
      version_id    bigint not null,
      primary key (as_of, cluster)
    );
    comment on table mart.cluster_centroids is
      'Each cluster''s size, its members'' mean recency, frequency and monetary, and its centroid in the standardised features.';

    create table mart.growth (
      as_of         date not null,
      month         date not null,
      active        integer not null,
      new           integer not null,
      churned       integer not null,
      regained      integer not null,
      net_growth    integer not null,
      is_partial    boolean not null,
      version_id    bigint not null,
      primary key (as_of, month)
    );
    comment on table mart.growth is
      'Customers per calendar month: active, new, churned, regained and net growth (docs/models.md, Customer growth). is_partial: the month of as_of, not yet over.';

    create table mart.clv (
      as_of               date not null,
      source              text not null,
      customer_id         text not null,
      frequency           integer not null,
      recency             double precision not null,
      age                 double precision not null,
      time_unit           text not null,
      mean_repeat_spend   numeric,
      probability_alive   double precision not null,
      expected_purchases  double precision not null,
      expected_spend      double precision,
      clv                 double precision,
      version_id          bigint not null,
      primary key (as_of, source, customer_id)
    );
    comment on table mart.clv is
      'BG/NBD and Gamma-Gamma per customer: repeat purchase days, recency and age in time_unit, probability alive at as_of, expected purchases and spend over the horizon, discounted CLV (docs/models.md, Lifetime value).';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists mart.clv, mart.growth, mart.cluster_centroids, mart.clusters, mart.rfm, ops.model_versions
  `);
}
