/**
 * The recommendations' reads (docs/models-recommendations.md has the exact definitions). Facts are
 * joined to the dimensions and named by natural ids, (source, customer_id) and (source, product_id),
 * whichever SCD2 version a line points at; the unknown customer (key 0) is left out. A purchase is an
 * order line that is neither cancelled nor returned. Every query reads up to and including the date
 * key $1 (YYYYMMDD); the storefront's events (staging.raw_events) up to the end of the date $2 in the
 * shop's time zone $3, for the customers and products the events' source ($4) knows.
 */

const PURCHASES = `
  select c.source, c.customer_id, p.product_id, f.order_id, f.date_key
    from core.fact_order_line f
    join core.dim_customer c on c.customer_key = f.customer_key
    join core.dim_product p on p.product_key = f.product_key
   where f.customer_key <> 0 and f.date_key <= $1 and f.status not in ('cancelled', 'returned')`;

/** Carts and views of the storefront's signed-in shoppers who are customers of the source $4. */
const EVENTS = `
  select $4::text as source, e.user_id as customer_id, e.product_id, e.event_type, e.user_session
    from staging.raw_events e
   where e.event_type in ('cart', 'view')
     and e.event_time < (($2::date + 1)::timestamp at time zone $3)
     and exists (select 1 from core.dim_customer c where c.source = $4 and c.customer_id = e.user_id)
     and exists (select 1 from core.dim_product p where p.source = $4 and p.product_id = e.product_id)`;

/**
 * One row per customer and product they interacted with: weight = $5 × orders holding the product +
 * $6 × sessions that carted it + $7 × sessions that viewed it; `bought_since` whether they bought it
 * on or after the date key $8 (the exclusion window's first day), `bought` whether ever.
 */
export const INTERACTIONS = `
  with bought as (
    select source, customer_id, product_id, count(distinct order_id) as orders, max(date_key) as last_key
      from (${PURCHASES}) l
     group by source, customer_id, product_id
  ), touched as (
    select source, customer_id, product_id,
           count(distinct user_session) filter (where event_type = 'cart') as carts,
           count(distinct user_session) filter (where event_type = 'view') as views
      from (${EVENTS}) e
     group by source, customer_id, product_id
  )
  select source, customer_id, product_id,
         ($5::float8 * coalesce(b.orders, 0) + $6::float8 * coalesce(t.carts, 0)
           + $7::float8 * coalesce(t.views, 0))::float8 as weight,
         coalesce(b.last_key >= $8, false) as bought_since,
         b.orders is not null as bought
    from bought b full join touched t using (source, customer_id, product_id)
   where $5::float8 * coalesce(b.orders, 0) + $6::float8 * coalesce(t.carts, 0) + $7::float8 * coalesce(t.views, 0) > 0
   order by source, customer_id, product_id`;

/** Baskets: the products of each order, and the products carted in each storefront session. */
export const BASKETS = `
  select distinct source, 'order ' || order_id as basket, product_id from (${PURCHASES}) l
  union
  select distinct source, 'session ' || user_session, product_id from (${EVENTS}) e where event_type = 'cart'
  order by 1, 2, 3`;

/**
 * Every product bought up to $1, or touched in the events: its category as of the date (the dimension's
 * version valid at the end of the date, else its current one), distinct buyers on or after the date
 * key $5 (the recent window) and distinct buyers ever.
 */
export const PRODUCTS = `
  with sales as (
    select source, product_id,
           count(distinct customer_id) filter (where date_key >= $5) as recent_buyers,
           count(distinct customer_id) as all_buyers
      from (${PURCHASES}) l
     group by source, product_id
  ), known as (
    select source, product_id from sales
    union
    select distinct source, product_id from (${EVENTS}) e
  )
  select k.source, k.product_id, coalesce(d.category, '') as category,
         coalesce(s.recent_buyers, 0)::float8 as recent_buyers, coalesce(s.all_buyers, 0)::float8 as all_buyers
    from known k
    left join sales s using (source, product_id)
    left join lateral (
      select category from core.dim_product p
       where p.source = k.source and p.product_id = k.product_id
       order by (p.valid_from < (($2::date + 1)::timestamp at time zone $3)) desc, p.valid_from desc
       limit 1
    ) d on true
   order by k.source, k.product_id`;

/**
 * The evaluation's relevant products: what each customer bought after the split key $1 and up to the
 * date key $2 that they had not bought up to the split.
 */
export const TEST_PURCHASES = `
  with after as (
    select distinct c.source, c.customer_id, p.product_id
      from core.fact_order_line f
      join core.dim_customer c on c.customer_key = f.customer_key
      join core.dim_product p on p.product_key = f.product_key
     where f.customer_key <> 0 and f.date_key > $1 and f.date_key <= $2
       and f.status not in ('cancelled', 'returned')
  ), before as (
    select distinct c.source, c.customer_id, p.product_id
      from core.fact_order_line f
      join core.dim_customer c on c.customer_key = f.customer_key
      join core.dim_product p on p.product_key = f.product_key
     where f.customer_key <> 0 and f.date_key <= $1 and f.status not in ('cancelled', 'returned')
  )
  select source, customer_id, product_id from after
  except
  select source, customer_id, product_id from before
  order by 1, 2, 3`;
