import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { exportMart } from '../lib/mart-export';
import type { Config } from '../lib/config';
import { secretInHome } from '../lib/home-secret';
import { listStoredMail } from '../lib/embedded/smtp';
import type { Logger } from '../lib/log';
import { MARTS } from '../contracts/model-summary';
import {
  availableDates,
  customersTab,
  DashboardInputError,
  forecastTab,
  martDate,
  parseDate,
  pipelineTab,
  retargetingTab,
  salesTab,
} from './dashboard-queries';
import { LiveHub, type LiveSnapshot } from './live';

export interface DashboardDeps {
  config: Config;
  warehouse: pg.Pool;
  logger: Logger;
  /** The dashboard's token (resolveDashboardToken); the storefront's token is not accepted. */
  token: string;
  /** The embedded SMTP sink's folder, for the Outbox tab; undefined when mail goes elsewhere. */
  mailDir?: string;
  /** Live snapshots are pushed at most this often (default 250 ms). */
  coalesceMs?: number;
}

/** The cookie the sign-in sets: an HMAC of the token, so the cookie is not the token itself. */
export const SESSION_COOKIE = 'cartflow_dashboard';

/**
 * The dashboard's token: CARTFLOW_DASHBOARD_TOKEN, else one generated at first start and kept in
 * CARTFLOW_HOME/dashboard-token (0600), so every process of one home agrees on it.
 */
export function resolveDashboardToken(config: Config): string {
  return config.dashboardToken || secretInHome(config.home, 'dashboard-token', 24);
}

const PUBLIC_DIR = path.join(__dirname, 'public');

/** The page's files: the only paths served from server/public, with their types. */
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
};

/**
 * Chart.js, served from the installed package (no CDN, no copy): its UMD build, under a path that
 * names its version, so that it can be cached for a year and an upgrade is a new URL.
 */
export function chartJsAsset(): { path: string; version: string; file: string } {
  const dist = path.dirname(require.resolve('chart.js'));
  const { version } = JSON.parse(fs.readFileSync(path.join(dist, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return {
    path: `/dashboard/vendor/chart-${version}.umd.min.js`,
    version,
    file: path.join(dist, 'chart.umd.min.js'),
  };
}

/** Nothing of the page may come from another host; mail bodies are shown sandboxed. */
const PAGE_POLICY =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'";

function digest(text: string): Buffer {
  return crypto.createHash('sha256').update(text).digest();
}

function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/**
 * The dashboard: the page at `/` (static files, no data), sign-in, the live stream and the JSON of
 * every tab under /api, and CSV downloads of the marts. Every data route takes the dashboard
 * token as `Authorization: Bearer …` or the session cookie `POST /api/sign-in` sets.
 */
export async function registerDashboardRoutes(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  const log = deps.logger.scope({ component: 'dashboard' });
  const expectedToken = digest(deps.token);
  const sessionValue = crypto
    .createHmac('sha256', deps.token)
    .update('cartflow dashboard session')
    .digest('base64url');
  const expectedSession = digest(sessionValue);
  const hub = new LiveHub({
    warehouse: deps.warehouse,
    timezone: deps.config.timezone,
    sessionIdleMs: deps.config.sessionIdleMs,
    logger: deps.logger,
    coalesceMs: deps.coalesceMs,
  });
  const streams = new Set<FastifyReply>();
  const temporalUi =
    deps.config.temporal.address === undefined
      ? {
          url: `http://localhost:${deps.config.embedded.temporalUiPort}`,
          namespace: deps.config.temporal.namespace,
        }
      : undefined;

  const signedIn = (request: FastifyRequest): boolean => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (bearer) return crypto.timingSafeEqual(digest(bearer[1]), expectedToken);
    const session = cookieOf(request, SESSION_COOKIE);
    return session !== undefined && crypto.timingSafeEqual(digest(session), expectedSession);
  };

  const chartJs = chartJsAsset();
  const chartJsSource = fs.readFileSync(chartJs.file);
  const sendAsset = (reply: FastifyReply, name: string) => {
    const file = fs.readFileSync(path.join(PUBLIC_DIR, name));
    return reply
      .type(ASSETS[name])
      .header('cache-control', 'no-cache')
      .header('content-security-policy', PAGE_POLICY)
      .header('x-content-type-options', 'nosniff')
      .send(name === 'index.html' ? file.toString('utf8').replace('__CHART_JS__', chartJs.path) : file);
  };

  app.get('/', async (_request, reply) => sendAsset(reply, 'index.html'));
  app.get(chartJs.path, async (_request, reply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff')
      .send(chartJsSource),
  );
  // Browsers ask for an icon; the page has none, and an answer without content keeps their logs clean.
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
  app.get<{ Params: { file: string } }>('/dashboard/:file', async (request, reply) => {
    if (!Object.hasOwn(ASSETS, request.params.file))
      return reply.code(404).send({ error: 'not_found', message: `No file ${request.params.file}` });
    return sendAsset(reply, request.params.file);
  });

  app.post('/api/sign-in', async (request, reply) => {
    const token = (request.body as { token?: unknown } | undefined)?.token;
    if (typeof token !== 'string' || !crypto.timingSafeEqual(digest(token), expectedToken)) {
      return reply.code(401).send({
        error: 'unauthorized',
        message:
          "That is not the dashboard token. It is CARTFLOW_DASHBOARD_TOKEN, or the file dashboard-token in CARTFLOW_HOME (the storefront's ingest token does not sign in).",
      });
    }
    return reply
      .header(
        'set-cookie',
        `${SESSION_COOKIE}=${sessionValue}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000`,
      )
      .send({ signedIn: true });
  });
  app.post('/api/sign-out', async (_request, reply) =>
    reply
      .header('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`)
      .send({ signedIn: false }),
  );

  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request, reply) => {
      if (!signedIn(request)) {
        return reply.code(401).header('www-authenticate', 'Bearer realm="cartflow dashboard"').send({
          error: 'unauthorized',
          message: 'Sign in with the dashboard token (CARTFLOW_DASHBOARD_TOKEN).',
        });
      }
    });
    scope.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
      if (error instanceof DashboardInputError)
        return reply.code(400).send({ error: 'bad_request', message: error.message });
      if (error.statusCode !== undefined && error.statusCode < 500)
        return reply.code(error.statusCode).send({ error: 'bad_request', message: error.message });
      log.error('A dashboard query failed', { url: request.url, error: error.message });
      return reply
        .code(503)
        .send({ error: 'unavailable', message: `Reading the warehouse failed: ${error.message}` });
    });

    scope.get('/api/live', async () => hub.snapshot());

    scope.get('/api/live/stream', async (request, reply) => {
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write('retry: 2000\n\n');
      const send = (snapshot: LiveSnapshot) =>
        raw.write(`event: live\ndata: ${JSON.stringify(snapshot)}\n\n`);
      streams.add(reply);
      const unsubscribe = await hub.subscribe(send);
      const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
      const end = () => {
        clearInterval(heartbeat);
        unsubscribe();
        streams.delete(reply);
      };
      request.raw.on('close', end);
      try {
        send(await hub.snapshot());
      } catch (error) {
        raw.write(`event: failure\ndata: ${JSON.stringify({ message: (error as Error).message })}\n\n`);
      }
    });

    scope.get('/api/dates', async () => availableDates(deps.warehouse));
    const dated = (request: FastifyRequest) => parseDate((request.query as { date?: string }).date);
    scope.get('/api/sales', async (request) => salesTab(deps.warehouse, dated(request)));
    scope.get('/api/customers', async (request) => customersTab(deps.warehouse, dated(request)));
    scope.get('/api/forecast', async (request) => forecastTab(deps.warehouse, dated(request)));
    scope.get('/api/retargeting', async (request) => retargetingTab(deps.warehouse, dated(request)));
    scope.get('/api/pipeline', async () => pipelineTab(deps.warehouse, temporalUi));

    scope.get('/api/outbox', async () => {
      if (!deps.mailDir)
        return {
          available: false,
          message: 'Mail goes to an external SMTP server (SMTP_URL); its messages are not kept here.',
        };
      const mails = listStoredMail(deps.mailDir)
        .slice(-100)
        .reverse()
        .map(({ id, receivedAt, from, to, subject }) => ({
          id,
          receivedAt,
          from,
          to: to.join(', '),
          subject,
        }));
      return { available: true, mails };
    });
    scope.get<{ Params: { id: string } }>('/api/outbox/:id', async (request, reply) => {
      const mail = deps.mailDir
        ? listStoredMail(deps.mailDir).find((m) => m.id === request.params.id)
        : undefined;
      if (!mail)
        return reply
          .code(404)
          .send({ error: 'not_found', message: `No message ${request.params.id} in the outbox` });
      // The message's own HTML, shown in a sandboxed frame: no scripts, nothing loaded from elsewhere.
      return reply
        .type('text/html; charset=utf-8')
        .header(
          'content-security-policy',
          "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
        )
        .send(mail.html ?? `<pre>${mail.text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)}</pre>`);
    });

    // The marts as `cartflow export <mart> --date D` streams them: COPY … TO STDOUT, straight to the reply.
    scope.get<{ Params: { mart: string } }>('/api/export/:mart', async (request, reply) => {
      const mart = request.params.mart.replace(/\.csv$/, '');
      if (!Object.hasOwn(MARTS, mart)) {
        return reply
          .code(404)
          .send({ error: 'not_found', message: `No mart ${mart}; one of ${Object.keys(MARTS).join(', ')}` });
      }
      const date = dated(request);
      const asOf = await martDate(deps.warehouse, mart as keyof typeof MARTS, date);
      if (!asOf) {
        return reply.code(404).send({
          error: 'not_found',
          message: `mart.${mart} has no rows${date ? ` on or before ${date}` : ''}: run \`cartflow run daily\` to fit ${MARTS[mart as keyof typeof MARTS]}.`,
        });
      }
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="${mart}-${asOf}.csv"`,
      });
      try {
        await exportMart(deps.warehouse, `mart.${mart}`, asOf, 'csv', reply.raw);
      } catch (error) {
        log.error('Exporting a mart failed', { mart, error: (error as Error).message });
        reply.raw.destroy(error as Error);
      }
    });
  });

  app.addHook('preClose', async () => {
    // Open streams would keep the server from closing: end them (the page reconnects to the next server).
    for (const reply of streams) reply.raw.end();
    streams.clear();
    await hub.close();
  });
}
