import type { Knex } from 'knex';

/**
 * The live dashboard's aggregates, kept as `POST /v1/events` stores events: the same statement that
 * claims an event's id in staging.raw_event_ids adds exactly the newly claimed events to these tables,
 * so a duplicate never counts twice and the figures survive a restart. Buckets are by event time, so a
 * late event lands in its own bucket; 5 and 15 minutes divide every time zone's offset, so "today" in
 * any zone is a range of whole buckets.
 *
 * - `mart.live_revenue_5m`: purchases per 5-minute bucket of event_time.
 * - `mart.live_product_sales`: units and revenue per product per 15-minute bucket.
 * - `mart.live_sessions`: per session the latest view, cart and purchase, for the funnel of any window
 *   that ends now (a session viewed in the last hour iff its latest view is in it) and active carts.
 *
 * The events stored before this migration are aggregated into the tables here.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table mart.live_revenue_5m (
      bucket     timestamptz primary key,
      revenue    numeric     not null,
      units      bigint      not null,
      purchases  bigint      not null,
      updated_at timestamptz not null default now()
    );
    comment on table mart.live_revenue_5m is
      'Purchase events per 5-minute bucket of event_time (revenue = sum of price * quantity; purchases = purchase events), kept by POST /v1/events.';

    create table mart.live_product_sales (
      bucket     timestamptz not null,
      product_id text        not null,
      units      bigint      not null,
      revenue    numeric     not null,
      primary key (bucket, product_id)
    );
    comment on table mart.live_product_sales is
      'Purchase events per product per 15-minute bucket of event_time, kept by POST /v1/events.';

    create table mart.live_sessions (
      user_session     text        primary key,
      user_id          text        not null,
      first_event_at   timestamptz not null,
      last_event_at    timestamptz not null,
      last_view_at     timestamptz,
      last_cart_at     timestamptz,
      last_purchase_at timestamptz
    );
    create index live_sessions_by_last_event on mart.live_sessions (last_event_at);
    comment on table mart.live_sessions is
      'Per session the event time of its latest view, cart and purchase event, kept by POST /v1/events: the funnel of a window ending now, and active carts.';

    insert into mart.live_revenue_5m (bucket, revenue, units, purchases)
    select date_bin('5 minutes', event_time, timestamptz '2000-01-01 00:00:00+00'),
           sum(price * quantity), sum(quantity), count(*)
      from staging.raw_events where event_type = 'purchase' group by 1;

    insert into mart.live_product_sales (bucket, product_id, units, revenue)
    select date_bin('15 minutes', event_time, timestamptz '2000-01-01 00:00:00+00'), product_id,
           sum(quantity), sum(price * quantity)
      from staging.raw_events where event_type = 'purchase' group by 1, 2;

    insert into mart.live_sessions
      (user_session, user_id, first_event_at, last_event_at, last_view_at, last_cart_at, last_purchase_at)
    select user_session, max(user_id), min(event_time), max(event_time),
           max(event_time) filter (where event_type = 'view'),
           max(event_time) filter (where event_type = 'cart'),
           max(event_time) filter (where event_type = 'purchase')
      from staging.raw_events group by user_session;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop table if exists mart.live_sessions, mart.live_product_sales, mart.live_revenue_5m`);
}
