import type { Knex } from 'knex';

/**
 * Abandoned carts and what was done about them: two facts for analysts, and three operational tables
 * that make the e-mail exactly-once and respect the shop's rules.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table core.fact_cart_session (
      cart_id        text        primary key,
      user_session   text        not null,
      user_id        text        not null,
      customer_id    bigint,
      started_at     timestamptz not null,
      last_event_at  timestamptz not null,
      abandoned_at   timestamptz,
      abandoned_date date,
      outcome        text        not null check (outcome in ('abandoned', 'purchased', 'recovered')),
      item_count     integer     not null,
      units          integer     not null,
      cart_value     numeric     not null,
      events         integer     not null,
      purchased_at   timestamptz,
      purchase_value numeric,
      updated_at     timestamptz not null default now()
    );
    create index fact_cart_session_by_session on core.fact_cart_session (user_session);
    create index fact_cart_session_by_abandoned_date on core.fact_cart_session (abandoned_date);
    comment on table core.fact_cart_session is
      'One row per cart (a session''s cart workflow run): abandoned when its session expired with items in it, purchased when it was bought first, recovered when bought after abandonment within the attribution window.';

    create table core.fact_retargeting (
      cart_id           text        not null,
      kind              text        not null check (kind in ('abandoned', 'reminder')),
      user_session      text        not null,
      customer_id       bigint,
      decided_at        timestamptz not null,
      decision          text        not null check (decision in ('pending', 'sent', 'held_out', 'suppressed')),
      reason            text,
      offer_type        text        not null check (offer_type in ('free_shipping', 'percent_off')),
      offer_value       numeric,
      offer_code        text        not null,
      cart_value        numeric     not null,
      item_count        integer     not null,
      message_id        text,
      sent_at           timestamptz,
      converted_at      timestamptz,
      recovered_revenue numeric,
      primary key (cart_id, kind)
    );
    create unique index fact_retargeting_offer_code on core.fact_retargeting (offer_code) where kind = 'abandoned';
    create index fact_retargeting_by_customer on core.fact_retargeting (customer_id, decided_at);
    comment on table core.fact_retargeting is
      'One row per retargeting decision about a cart: pending/sent, held_out (the holdout group) or suppressed with the reason; converted_at and recovered_revenue when a purchase followed within the attribution window.';
    comment on column core.fact_retargeting.reason is
      'Why no e-mail: unknown_customer, no_consent, no_email, unsubscribed, frequency_cap, holdout.';

    create table ops.cart_emails (
      send_key        text        primary key,
      cart_id         text        not null,
      kind            text        not null check (kind in ('abandoned', 'reminder')),
      customer_id     bigint      not null,
      message_id      text        not null unique,
      content         jsonb       not null,
      status          text        not null check (status in ('pending', 'sent', 'suppressed')),
      attempts        integer     not null default 0,
      last_attempt_at timestamptz,
      last_error      text,
      sent_at         timestamptz,
      smtp_response   text,
      created_at      timestamptz not null default now()
    );
    comment on table ops.cart_emails is
      'The exactly-once ledger of retargeting e-mails: a row is claimed under its send key before SMTP is spoken to, and marked sent in the same transaction that held its lock during the send.';

    create table ops.email_suppressions (
      suppression_id bigserial   primary key,
      customer_id    bigint,
      email          text,
      reason         text        not null,
      source         text,
      created_at     timestamptz not null default now(),
      check (customer_id is not null or email is not null),
      check (email is null or email = lower(email))
    );
    create unique index email_suppressions_customer on ops.email_suppressions (customer_id) where customer_id is not null;
    create index email_suppressions_email on ops.email_suppressions (email) where email is not null;
    comment on table ops.email_suppressions is
      'Customers and addresses that must never get a marketing e-mail (unsubscribed, complaints, bounces); checked at every send.';

    create table ops.retargeting_contacts (
      customer_id     bigint      primary key,
      last_contact_at timestamptz not null,
      last_cart_id    text        not null
    );
    comment on table ops.retargeting_contacts is
      'The last retargeting campaign per customer, for the frequency cap; locked per customer while a decision is made.';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists ops.retargeting_contacts, ops.email_suppressions, ops.cart_emails;
    drop table if exists core.fact_retargeting, core.fact_cart_session;
  `);
}
