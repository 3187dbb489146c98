import type pg from 'pg';
import type { Config } from '../lib/config';
import { DEMO_SHOP_SOURCE } from '../sources/demo-shop';
import type { RecommendedProduct } from './email';

/** The source whose ids the storefront's events and the shop's products share. */
const EVENTS_SOURCE = DEMO_SHOP_SOURCE.name;

/** The three lists of the latest succeeded recommendations fit that the e-mail's choice starts from. */
const CANDIDATES = `
  with v as (
    select version_id, as_of from ops.model_versions
     where model = 'recommendations' and status = 'succeeded'
     order by as_of desc, version_id desc limit 1
  )
  select
    coalesce((select json_agg(json_build_object('product_id', r.product_id, 'method', r.method) order by r.rank)
                from mart.recommendations r join v on r.as_of = v.as_of and r.version_id = v.version_id
               where r.source = $1 and r.customer_id = $2), '[]') as own,
    coalesce((select json_agg(product_id order by score desc, product_id)
                from (select r.related_product_id as product_id, sum(r.score) as score
                        from mart.related_products r join v on r.as_of = v.as_of and r.version_id = v.version_id
                       where r.source = $1 and r.product_id = any($3::text[])
                       group by 1) related), '[]') as related,
    coalesce((select json_agg(p.product_id order by p.rank)
                from mart.popular_products p join v on p.as_of = v.as_of and p.version_id = v.version_id
               where p.source = $1 and p.category = ''), '[]') as popular`;

/**
 * The e-mail's order of candidates, with the cart as context: a customer whose list comes from the
 * factorisation (enough history) gets that list first; anyone else first gets what is bought together
 * with the cart's items (co-occurrence summed over them), then their own list; popular products fill
 * the rest. Nothing in the cart, and nothing twice.
 */
export function orderCartCandidates(
  lists: { own: { product_id: string; method: string }[]; related: string[]; popular: string[] },
  cart: readonly string[],
): string[] {
  const own = lists.own.map((r) => r.product_id);
  const factorised = lists.own.some((r) => r.method === 'factorisation');
  const ordered = factorised ? [...own, ...lists.related] : [...lists.related, ...own];
  const inCart = new Set(cart);
  return [...new Set([...ordered, ...lists.popular])].filter((id) => !inCart.has(id));
}

/**
 * What the retargeting e-mail recommends (docs/models-recommendations.md, "In the e-mail"): up to
 * `limit` products in stock, with the shop's name and price and a link, chosen from the precomputed
 * lists of the latest fit. Before any fit there are no lists, and the e-mail goes without the block.
 */
export function createCartRecommender(deps: { config: Config; warehouse: pg.Pool; shop: pg.Pool }) {
  const publicUrl = deps.config.carts.publicUrl;
  return async function recommend(
    customerId: string,
    cartProductIds: string[],
    limit: number,
    // The send's own connection (it holds one of the pool's in its transaction), else the pool.
    warehouseDb: pg.Pool | pg.ClientBase = deps.warehouse,
  ): Promise<RecommendedProduct[]> {
    const { rows } = await warehouseDb.query<Parameters<typeof orderCartCandidates>[0]>(CANDIDATES, [
      EVENTS_SOURCE,
      customerId,
      cartProductIds,
    ]);
    const candidates = orderCartCandidates(rows[0], cartProductIds).filter((id) => /^\d+$/.test(id));
    if (candidates.length === 0) return [];
    const { rows: products } = await deps.shop.query<{ product_id: string; name: string; price: string }>(
      `select product_id::text as product_id, name, price::text as price
         from products where product_id = any($1::bigint[]) and stock > 0`,
      [candidates],
    );
    const byId = new Map(products.map((p) => [p.product_id, p]));
    return candidates
      .filter((id) => byId.has(id))
      .slice(0, limit)
      .map((id) => ({
        productId: id,
        name: byId.get(id)!.name,
        price: Number(byId.get(id)!.price),
        url: `${publicUrl}/products/${encodeURIComponent(id)}`,
      }));
  };
}
