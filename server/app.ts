import Fastify, { type FastifyInstance } from 'fastify';
import { registerCartRoutes, type CartServerDeps } from './carts';
import { registerDashboardRoutes, resolveDashboardToken } from './dashboard';
import { cachedHealth, type HealthDeps } from './health';
import { registerRecommendationRoutes, type RecommendationRoutesDeps } from './recommendations';

export interface ServerDeps extends HealthDeps {
  /** The embedded SMTP sink's folder, when it runs: its messages are in the dashboard's Outbox tab (/mail leads there). */
  mailDir?: string;
  /** The abandoned-cart feature: POST /v1/events, unsubscribe links, the cart page and the outbox relay. */
  carts?: CartServerDeps;
  /** GET /v1/customers/:id/recommendations and /v1/products/:id/related, with the storefront's token. */
  recommendations?: Omit<RecommendationRoutesDeps, 'warehouse'>;
  /**
   * The dashboard at `/` and its API (docs/dashboard.md): on by default with the carts feature, whose
   * config it reads; `false` leaves it out; `token` replaces the configured dashboard token.
   */
  dashboard?: false | { token?: string; coalesceMs?: number };
}

/** The HTTP API and the dashboard's JSON endpoints. Routes are added by the features that own them. */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 5 * 1024 * 1024, maxParamLength: 256 });

  const health = cachedHealth(deps); // one probe per HEALTH_CACHE_MS, shared by concurrent requests
  app.get('/health', async (_request, reply) => {
    const report = await health();
    return reply.code(report.status === 'up' ? 200 : 503).send(report);
  });

  if (deps.carts) {
    void app.register(async (scope) =>
      registerCartRoutes(scope, {
        ...deps.carts!,
        warehouse: deps.warehouse,
        shop: deps.shop,
        temporal: deps.temporal,
      }),
    );
  }

  if (deps.recommendations) {
    const recommendations = { ...deps.recommendations, warehouse: deps.warehouse };
    void app.register(async (scope) => registerRecommendationRoutes(scope, recommendations));
  }

  if (deps.carts && deps.dashboard !== false) {
    const { config, logger } = deps.carts;
    const options = deps.dashboard ?? {};
    void app.register(async (scope) =>
      registerDashboardRoutes(scope, {
        config,
        logger,
        warehouse: deps.warehouse,
        token: options.token ?? resolveDashboardToken(config),
        mailDir: deps.mailDir,
        coalesceMs: options.coalesceMs,
      }),
    );
  }

  if (deps.mailDir) {
    // The messages carry shoppers' names, addresses and carts: they are read signed in, in the
    // dashboard's Outbox tab. The short addresses the start-up banner prints lead there.
    app.get('/mail', async (_request, reply) => reply.redirect('/#outbox'));
    app.get<{ Params: { id: string } }>('/mail/:id', async (request, reply) =>
      reply.redirect(`/api/outbox/${encodeURIComponent(request.params.id)}`),
    );
  }

  return app;
}
