/**
 * The dimensions in `core`, from the clean canonical rows of source $1 (run $2). Customers and
 * products are slowly changing of type 2: a change of a tracked attribute closes the current version
 * at the row's `changed_at` (when the source says it changed; the run's time when it does not) and
 * opens a new one; other attributes are overwritten in every version (type 1). A key seen for the
 * first time gets a version valid since -infinity, so every earlier fact finds it. Nothing is written
 * when nothing changed, so re-running a date changes nothing.
 */

import type { CanonicalEntity } from '../../sources/definition';
import { canonicalOf, inScope } from './canonical';

interface Scd2 {
  entity: CanonicalEntity;
  dim: string;
  naturalKey: string;
  surrogateKey: string;
  /** [dimension column, canonical expression] pairs. */
  type1: [string, string][];
  type2: [string, string][];
  changes: string;
}

const CUSTOMER: Scd2 = {
  entity: 'customers',
  dim: 'core.dim_customer',
  naturalKey: 'customer_id',
  surrogateKey: 'customer_key',
  type1: [
    ['email', 'c.email'],
    ['first_name', 'c.first_name'],
    ['last_name', 'c.last_name'],
    ['company_name', 'c.company_name'],
    ['signup_at', 'c.signup_at_ts'],
  ],
  type2: [
    ['address_line', 'c.address_line'],
    ['city', 'c.city'],
    ['state', 'c.state'],
    ['postal_code', 'c.postal_code'],
    ['country', 'c.country'],
  ],
  changes: 'cartflow_customer_changes',
};

const PRODUCT: Scd2 = {
  entity: 'products',
  dim: 'core.dim_product',
  naturalKey: 'product_id',
  surrogateKey: 'product_key',
  type1: [
    ['sku', 'c.sku'],
    ['name', 'c.name'],
    ['brand', 'c.brand'],
  ],
  type2: [
    ['price', 'c.price'],
    ['category', 'c.category'],
  ],
  changes: 'cartflow_product_changes',
};

/** With `scoped`, only the members in the transform's scope are compared (canonical.ts, SCOPE_TABLES). */
function scd2(s: Scd2, scoped = false) {
  const only = inScope(s.entity, scoped, `c.${s.naturalKey}`);
  const canonical = canonicalOf(s.entity, scoped);
  const columns = [...s.type1, ...s.type2];
  const names = columns.map(([d]) => d).join(', ');
  const values = columns.map(([, c]) => c).join(', ');
  const tuple = (pairs: [string, string][], side: 'd' | 'c') =>
    `(${pairs.map(([d, c]) => (side === 'd' ? `d.${d}` : c)).join(', ')})`;
  return {
    /** Type 1: overwrite in every version. */
    overwrite: `
      update ${s.dim} d set ${s.type1.map(([d, c]) => `${d} = ${c}`).join(', ')}
        from ${canonical} c
       where c.source = $1 and c.rule is null and d.source = c.source and d.${s.naturalKey} = c.${s.naturalKey}${only}
         and ${tuple(s.type1, 'd')} is distinct from ${tuple(s.type1, 'c')}`,
    /** Type 2: which current versions a tracked attribute changed in, and when the new version starts. */
    findChanges: `
      create temp table ${s.changes} on commit drop as
      select d.${s.surrogateKey} as old_key, d.version, d.${s.naturalKey},
             greatest(coalesce(c.changed_at_ts, now()), d.valid_from + interval '1 microsecond') as starts
        from ${canonical} c
        join ${s.dim} d on d.source = c.source and d.${s.naturalKey} = c.${s.naturalKey} and d.is_current
       where c.source = $1 and c.rule is null${only}
         and ${tuple(s.type2, 'd')} is distinct from ${tuple(s.type2, 'c')}`,
    closeVersions: `
      update ${s.dim} d set valid_to = ch.starts, is_current = false
        from ${s.changes} ch where d.${s.surrogateKey} = ch.old_key`,
    openVersions: `
      insert into ${s.dim} (source, ${s.naturalKey}, ${names}, valid_from, version, run_id)
      select $1, c.${s.naturalKey}, ${values}, ch.starts, ch.version + 1, $2
        from ${s.changes} ch
        join ${canonical} c on c.source = $1 and c.${s.naturalKey} = ch.${s.naturalKey} and c.rule is null`,
    insertNew: `
      insert into ${s.dim} (source, ${s.naturalKey}, ${names}, valid_from, version, run_id)
      select $1, c.${s.naturalKey}, ${values}, '-infinity', 1, $2
        from ${canonical} c
       where c.source = $1 and c.rule is null${only}
         and not exists (select 1 from ${s.dim} d where d.source = c.source and d.${s.naturalKey} = c.${s.naturalKey})`,
  };
}

export const DIM_CUSTOMER = scd2(CUSTOMER);
export const DIM_PRODUCT = scd2(PRODUCT);
export const dimCustomer = (scoped: boolean) => scd2(CUSTOMER, scoped);
export const dimProduct = (scoped: boolean) => scd2(PRODUCT, scoped);

/** Inserts the days of `days` (a query of one date column, `d`) into core.dim_date; days already there stay. */
const insertDays = (days: string) => `
  with days as (${days})
  insert into core.dim_date
    (date_key, date, year, quarter, month, month_name, day_of_month, iso_day_of_week, day_name, iso_year, iso_week, is_weekend)
  select to_char(d, 'YYYYMMDD')::int, d, extract(year from d), extract(quarter from d), extract(month from d),
         trim(to_char(d, 'Month')), extract(day from d), extract(isodow from d), trim(to_char(d, 'Day')),
         extract(isoyear from d), extract(week from d), extract(isodow from d) >= 6
    from days
  on conflict (date_key) do nothing`;

/**
 * Every day an order or payment of source $1 falls on (in the session's time zone, the shop's), the
 * logical date $2, and the days between them (when they span less than a century).
 */
export const dimDate = (scoped: boolean) =>
  insertDays(`
    with dates as (
      select placed_at_ts::date as d from ${canonicalOf('orders', scoped)} where source = $1 and rule is null${inScope('orders', scoped)}
      union select paid_at_ts::date from ${canonicalOf('payments', scoped)} where source = $1 and rule is null${inScope('payments', scoped)}
      union select $2::date
    ),
    -- Scoped, the source's other days are there since their transform: the span reaches the nearest.
    span as (select min(d) as lo, max(d) as hi from dates),
    bounds as (select ${
      scoped
        ? `coalesce((select max(date) from core.dim_date where date <= lo), lo) as lo,
           coalesce((select min(date) from core.dim_date where date >= hi), hi) as hi`
        : `lo, hi`
    } from span)
    select g::date as d from bounds, generate_series(lo, hi, interval '1 day') g where hi - lo <= 36525
    union select d from dates`);
export const DIM_DATE = dimDate(false);

/**
 * The logical date $1 and the days since the latest day before it already there: what a run adds to
 * core.dim_date when its sources' facts are unchanged (their days are there since they were written).
 */
export const DIM_DATE_UP_TO = insertDays(`
    select g::date as d
      from generate_series(coalesce((select max(date) from core.dim_date where date <= $1::date), $1::date),
                           $1::date, interval '1 day') g`);
