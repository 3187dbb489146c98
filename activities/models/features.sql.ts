/**
 * The customer models' reads of the star schema, as of a logical date (docs/models.md has the exact
 * definitions). Every query takes the logical date's key (YYYYMMDD) as $1 and reads only facts up to
 * and including it. A customer is a (source, customer_id) pair, whichever SCD2 version the line points
 * at; the unknown customer (key 0: guests, lines without a customer) is left out. Cancelled orders
 * never count; a returned order is not a purchase, but its (negative) amount counts in monetary.
 */

/** The order lines the customer models read: known customers, not cancelled, up to $1. */
const CUSTOMER_LINES = `
  select c.source, c.customer_id, f.order_id, f.date_key, f.net_amount, f.status = 'returned' as is_return
    from core.fact_order_line f
    join core.dim_customer c on c.customer_key = f.customer_key
   where f.customer_key <> 0 and f.date_key <= $1 and f.status <> 'cancelled'`;

/** The calendar date of a YYYYMMDD key. */
const keyDate = (key: string) => `to_date((${key})::text, 'YYYYMMDD')`;

/**
 * Recency (days from the last purchase day to the date), frequency (distinct purchase orders) and
 * monetary (net revenue: purchases less returns) of every customer with at least one purchase.
 */
export const RFM_FEATURES = `
  select source, customer_id,
         ${keyDate('$1')} - ${keyDate('max(date_key) filter (where not is_return)')} as recency_days,
         count(distinct order_id) filter (where not is_return) as frequency,
         sum(net_amount)::float8 as monetary
    from (${CUSTOMER_LINES}) l
   group by source, customer_id
  having bool_or(not is_return)
   order by source, customer_id`;

/**
 * BG/NBD's and Gamma-Gamma's inputs per customer with a purchase: purchase days (a day with at least
 * one purchase order; several orders on one day are one occasion), the first and last of them in days
 * before the date, and the mean spend of the repeat days (a day's spend is its purchase lines' net
 * amount; days worth nothing or less are left out of the mean, as Gamma-Gamma needs positive spend).
 */
export const REPEAT_PURCHASE_DAYS = `
  with days as (
    select source, customer_id, date_key, sum(net_amount) as spend
      from (${CUSTOMER_LINES}) l
     where not is_return
     group by source, customer_id, date_key
  ), numbered as (
    select *, min(date_key) over (partition by source, customer_id) as first_key from days
  )
  select source, customer_id,
         count(*) - 1 as repeat_days,
         ${keyDate('$1')} - ${keyDate('min(date_key)')} as age_days,
         ${keyDate('max(date_key)')} - ${keyDate('min(date_key)')} as recency_days,
         (avg(spend) filter (where date_key > first_key and spend > 0))::float8 as mean_repeat_spend,
         count(*) filter (where date_key > first_key and spend > 0) as spend_days
    from numbered
   group by source, customer_id
   order by source, customer_id`;

/**
 * Customer growth per calendar month up to the month of $1, with $2 the months without a purchase
 * after which a customer has churned (N). A customer is active in a month with a purchase in it; new
 * in the month of their first purchase ever; churned in month m when active in m − N and in none of
 * m − N + 1 … m; regained in m when active in m after such a gap (previous active month before
 * m − N). Net growth = new + regained − churned. The month of $1 is partial.
 */
export const GROWTH_BY_MONTH = `
  with active as (
    select distinct source, customer_id, date_trunc('month', ${keyDate('date_key')})::date as month
      from (${CUSTOMER_LINES}) l
     where not is_return
  ), spans as (
    select month,
           lag(month) over w as previous_month,
           lead(month) over w as next_month
      from active
    window w as (partition by source, customer_id order by month)
  ), last_month as (
    select date_trunc('month', ${keyDate('$1')})::date as month
  ), months as (
    select generate_series((select min(month) from active), (select month from last_month), interval '1 month')::date as month
  ), counts as (
    select month,
           count(*) as active,
           count(*) filter (where previous_month is null) as new,
           count(*) filter (where previous_month < month - make_interval(months => $2)) as regained
      from spans group by month
  ), churned as (
    select (month + make_interval(months => $2))::date as month, count(*) as churned
      from spans
     where next_month is null or next_month > month + make_interval(months => $2)
     group by 1
  )
  select to_char(m.month, 'YYYY-MM-DD') as month,
         coalesce(c.active, 0)::int as active, coalesce(c.new, 0)::int as new,
         coalesce(ch.churned, 0)::int as churned, coalesce(c.regained, 0)::int as regained,
         m.month = (select month from last_month) as is_partial
    from months m
    left join counts c on c.month = m.month
    left join churned ch on ch.month = m.month
   order by m.month`;
