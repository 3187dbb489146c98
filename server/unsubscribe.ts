import type { FastifyInstance, FastifyReply } from 'fastify';
import type pg from 'pg';
import type { Logger } from '../lib/log';
import { verifyUnsubscribeToken } from '../lib/unsubscribe';

export interface UnsubscribeDeps {
  warehouse: pg.Pool;
  shop: pg.Pool;
  /** Verifies the tokens the worker signed into e-mails. */
  unsubscribeSecret: string;
  logger: Logger;
}

/**
 * `GET /v1/unsubscribe?token=…` (the link in every retargeting e-mail) and `POST` to the same address
 * (RFC 8058 one-click, which mail clients send from the List-Unsubscribe-Post header). A genuine token
 * puts the customer, and their current address, on the suppression list that every send checks.
 */
export async function registerUnsubscribeRoutes(app: FastifyInstance, deps: UnsubscribeDeps): Promise<void> {
  const log = deps.logger.scope({ component: 'unsubscribe' });

  const unsubscribe = async (token: unknown, reply: FastifyReply) => {
    const customerId =
      typeof token === 'string' ? verifyUnsubscribeToken(deps.unsubscribeSecret, token) : undefined;
    if (!customerId) {
      return reply
        .code(400)
        .type('text/html; charset=utf-8')
        .send(
          page(
            'This unsubscribe link is not valid',
            'Please use the link from the e-mail exactly as it came.',
          ),
        );
    }
    const { rows } = await deps.shop.query<{ email: string | null }>(
      `select email from customers where customer_id = $1::bigint`,
      [customerId],
    );
    const email = rows[0]?.email?.trim().toLowerCase() || null;
    await deps.warehouse.query(
      `insert into ops.email_suppressions (customer_id, email, reason, source)
       values ($1::bigint, $2, 'unsubscribed', 'unsubscribe link')
       on conflict (customer_id) where customer_id is not null do nothing`,
      [customerId, email],
    );
    log.info('A customer unsubscribed', { customerId });
    return reply
      .code(200)
      .type('text/html; charset=utf-8')
      .send(page('You are unsubscribed', 'You will get no more e-mails about carts you left behind.'));
  };

  await app.register(async (scope) => {
    // One-click posts `List-Unsubscribe=One-Click` as a form; the token in the address is all that counts.
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 4096 }, (_request, _body, done) =>
      done(null, null),
    );
    scope.get<{ Querystring: { token?: string } }>('/v1/unsubscribe', async (request, reply) =>
      unsubscribe(request.query.token, reply),
    );
    scope.post<{ Querystring: { token?: string } }>('/v1/unsubscribe', async (request, reply) =>
      unsubscribe(request.query.token, reply),
    );
  });
}

function page(title: string, text: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto"><h1>${title}</h1><p>${text}</p></body></html>\n`;
}
