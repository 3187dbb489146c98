import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';

/** The largest `limit`: the fit keeps this many products per customer and per product. */
export const MAX_RECOMMENDATIONS = 20;
const DEFAULT_LIMIT = 10;
/**
 * How often the server asks for the latest succeeded version. Lists are cached in process per version,
 * so a new fit is served at most this long (plus one query) after it commits.
 */
export const VERSION_POLL_MS = 50;
/** Lists cached per version before the cache starts over (bounds memory under unknown ids). */
const CACHED_LISTS = 50_000;
/** The demo storefront's source name (sources/demo-shop.ts): whose ids the storefront sends. */
const STOREFRONT_SOURCE = 'shop';

export interface RecommendationRoutesDeps {
  /** The storefront's bearer token, the same as for POST /v1/events. */
  ingestToken: string;
  warehouse: pg.Pool;
  /** The source whose customer and product ids the storefront sends (default: the demo shop's). */
  source?: string;
}

export interface RecommendationsBody {
  customer_id?: string;
  product_id?: string;
  source: string;
  /** The version of ops.model_versions the items come from; null before the first fit. */
  model_version: number | null;
  /** True when the items are the popular products because the id has no list of its own. */
  fallback: boolean;
  items: { product_id: string; score: number }[];
}

/**
 * The latest succeeded fit: the latest date, and of that date the last version (the one whose rows
 * the mart holds). Every read names it in the same statement as its rows, so a read sees one version
 * whole even while a new fit commits.
 */
const LATEST_VERSION = `
  select version_id, as_of from ops.model_versions
   where model = 'recommendations' and status = 'succeeded'
   order by as_of desc, version_id desc limit 1`;

/** $1 source, $2 id, $3 limit; the list table and its id column are named by the caller. */
const listQuery = (table: string, idColumn: string, productColumn: string) => `
  with v as (${LATEST_VERSION}),
  own as (
    select t.${productColumn} as product_id, t.score, t.rank
      from ${table} t join v on t.as_of = v.as_of and t.version_id = v.version_id
     where t.source = $1 and t.${idColumn} = $2
     order by t.rank limit $3
  ),
  popular as (
    select p.product_id, p.score, p.rank
      from mart.popular_products p join v on p.as_of = v.as_of and p.version_id = v.version_id
     where p.source = $1 and p.category = '' and not exists (select 1 from own)
     order by p.rank limit $3
  )
  select (select version_id from v)::int as version_id,
         not exists (select 1 from own) as fallback,
         coalesce((select json_agg(json_build_object('product_id', product_id, 'score', score) order by rank)
                     from (select * from own union all select * from popular) l), '[]'::json) as items`;

const CUSTOMER_LIST = listQuery('mart.recommendations', 'customer_id', 'product_id');
const RELATED_LIST = listQuery('mart.related_products', 'product_id', 'related_product_id');

interface ListRow {
  version_id: number | null;
  fallback: boolean;
  items: RecommendationsBody['items'];
}

/**
 * A list as the answer's JSON, serialised once when it is read: the body up to `"items":[`, the items
 * joined, and where each item's text ends, so the answer for any limit is three strings joined.
 */
interface CachedList {
  version: number | null;
  head: string;
  items: string;
  /** ends[k]: the length of the first k + 1 items' text in `items`. */
  ends: number[];
}

function serialiseList(
  key: 'customer_id' | 'product_id',
  id: string,
  source: string,
  row: ListRow,
): CachedList {
  const head =
    `{${JSON.stringify(key)}:${JSON.stringify(id)},"source":${JSON.stringify(source)},` +
    `"model_version":${JSON.stringify(row.version_id)},"fallback":${row.fallback},"items":[`;
  const ends: number[] = [];
  let items = '';
  for (const { product_id, score } of row.items) {
    items += `${items === '' ? '' : ','}${JSON.stringify({ product_id, score })}`;
    ends.push(items.length);
  }
  return { version: row.version_id, head, items, ends };
}

/** The answer's body for the first `limit` items of a list. */
const bodyOf = (list: CachedList, limit: number) =>
  list.ends.length === 0
    ? `${list.head}]}`
    : `${list.head}${list.items.slice(0, list.ends[Math.min(limit, list.ends.length) - 1])}]}`;

/**
 * The lists of one version, read once from the warehouse and then served from memory. `version` is
 * the latest succeeded version as last polled; when the poll sees another, the cache starts over for it
 * (one assignment, so a request sees either the old version's lists or the new one's, never a mix). A
 * list read by a request is kept only when it is of the polled version.
 */
class ListCache {
  private version: number | null | undefined;
  private lists = new Map<string, CachedList>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(private readonly warehouse: pg.Pool) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), VERSION_POLL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
  }

  private poll(): Promise<void> {
    this.polling ??= this.warehouse
      .query<{ version_id: number }>({ name: 'recommendations-latest-version', text: LATEST_VERSION })
      .then(({ rows }) => this.adopt(rows.length === 0 ? null : Number(rows[0].version_id)))
      .catch(() => undefined) // a failed poll keeps the current version; requests still read the warehouse
      .finally(() => (this.polling = undefined));
    return this.polling;
  }

  private adopt(version: number | null): void {
    if (version === this.version) return;
    this.version = version;
    this.lists = new Map();
  }

  /**
   * The whole list (up to MAX_RECOMMENDATIONS) for a source and id, of one version, serialised. A hit
   * is one map lookup, with nothing awaited.
   */
  list(
    name: string,
    sql: string,
    key: 'customer_id' | 'product_id',
    source: string,
    id: string,
  ): CachedList | Promise<CachedList> {
    const cacheKey = `${name}\u0000${source}\u0000${id}`;
    const lists = this.lists;
    const cached = this.version === undefined ? undefined : lists.get(cacheKey);
    return cached ?? this.read(sql, name, key, source, id, cacheKey, lists);
  }

  private async read(
    sql: string,
    name: string,
    key: 'customer_id' | 'product_id',
    source: string,
    id: string,
    cacheKey: string,
    lists: Map<string, CachedList>,
  ): Promise<CachedList> {
    const { rows } = await this.warehouse.query<ListRow>({
      name: `recommendations-${name}`,
      text: sql,
      values: [source, id, MAX_RECOMMENDATIONS],
    });
    const list = serialiseList(key, id, source, rows[0]);
    if (this.version === undefined) this.adopt(list.version);
    if (list.version === this.version && this.lists === lists) {
      if (lists.size >= CACHED_LISTS) lists.clear();
      lists.set(cacheKey, list);
    }
    return list;
  }
}

function tokenDigest(token: string): Buffer {
  return crypto.createHash('sha256').update(token).digest();
}

/** A problem with the request, as the events API reports them. */
const badRequest = (reply: FastifyReply, field: string, message: string) =>
  reply
    .code(400)
    .send({ error: 'bad_request', message: `${field} ${message}`, problems: [{ field, message }] });

/** An id as the storefront sends it: 1 to 200 characters, none of them a control character. */
// eslint-disable-next-line no-control-regex
const VALID_ID = /^[^\u0000-\u001f\u007f]{1,200}$/;

/**
 * `GET /v1/customers/:id/recommendations?limit=10` and `GET /v1/products/:id/related?limit=10`, as
 * DESIGN.md specifies: the storefront's bearer token, the precomputed lists of the latest succeeded
 * fit, and the popular products for an id without a list (never an error).
 */
export async function registerRecommendationRoutes(
  app: FastifyInstance,
  deps: RecommendationRoutesDeps,
): Promise<void> {
  const expected = tokenDigest(deps.ingestToken);
  const defaultSource = deps.source ?? STOREFRONT_SOURCE;
  const cache = new ListCache(deps.warehouse);
  cache.start();
  app.addHook('onClose', async () => cache.stop());

  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
      if (!match || !crypto.timingSafeEqual(tokenDigest(match[1]), expected))
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="cartflow recommendations"')
          .send({
            error: 'unauthorized',
            message: match
              ? 'The bearer token is wrong. Send Authorization: Bearer <CARTFLOW_INGEST_TOKEN>.'
              : 'Authorization: Bearer <CARTFLOW_INGEST_TOKEN> is missing.',
          });
    });

    const serve =
      (name: string, sql: string, key: 'customer_id' | 'product_id') =>
      async (
        request: FastifyRequest<{ Params: { id: string }; Querystring: { limit?: string; source?: string } }>,
        reply: FastifyReply,
      ) => {
        const { id } = request.params;
        if (!VALID_ID.test(id))
          return badRequest(reply, key, 'must be 1 to 200 characters, without control characters');
        const limitText = request.query.limit ?? String(DEFAULT_LIMIT);
        const limit = /^\d+$/.test(limitText) ? Number(limitText) : NaN;
        if (!(limit >= 1 && limit <= MAX_RECOMMENDATIONS))
          return badRequest(
            reply,
            'limit',
            `must be a whole number from 1 to ${MAX_RECOMMENDATIONS}, not "${limitText}"`,
          );
        const source = request.query.source ?? defaultSource;
        if (!VALID_ID.test(source))
          return badRequest(reply, 'source', 'must be 1 to 200 characters, without control characters');
        // The body is text serialised when the list was read (a RecommendationsBody).
        const list = await cache.list(name, sql, key, source, id);
        return reply.type('application/json; charset=utf-8').send(bodyOf(list, limit));
      };

    scope.get('/v1/customers/:id/recommendations', serve('customer', CUSTOMER_LIST, 'customer_id'));
    scope.get('/v1/products/:id/related', serve('related', RELATED_LIST, 'product_id'));
  });
}
