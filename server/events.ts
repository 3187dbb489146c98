import Ajv, { type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Logger } from '../lib/log';
import type { CartForwarder } from './cart-forwarder';
import {
  envelopeSchema,
  eventSchema,
  EVENT_TYPES,
  MAX_EVENTS_PER_BATCH,
  type IncomingEvent,
} from './events-schema';
import { storeEvents } from './events-store';

/** Largest body `POST /v1/events` reads: 1,000 events of the longest fields allowed fit with room to spare. */
export const EVENTS_BODY_LIMIT = 4 * 1024 * 1024;

export interface EventRoutesDeps {
  /** The storefront's bearer token. */
  ingestToken: string;
  warehouse: pg.Pool;
  forwarder: CartForwarder;
  logger: Logger;
}

/** One thing wrong with a request: which event (null for the request as a whole), which field, and what. */
export interface Problem {
  index: number | null;
  field: string | null;
  message: string;
}

const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv, ['uuid', 'date-time', 'email']);
const validateEnvelope = ajv.compile<{ events: unknown[] }>(envelopeSchema);
const validateEvent = ajv.compile<IncomingEvent>(eventSchema);

const FORMAT_MESSAGES: Record<string, string> = {
  uuid: 'must be a UUID, e.g. 0b4e7a0e-5f5d-4d7e-9a39-2f1b1c2d3e4f',
  'date-time': 'must be an ISO 8601 date-time with an offset, e.g. 2026-11-23T10:00:00Z',
  email: 'must be an e-mail address',
};

/** Turns ajv's errors about one event into the contract's problems, one per field. */
function problemsOf(index: number, errors: ErrorObject[]): Problem[] {
  const byField = new Map<string, Problem>();
  for (const error of errors) {
    const path = error.instancePath.split('/').filter(Boolean);
    let field: string | null = path[0] ?? null;
    let message: string;
    switch (error.keyword) {
      case 'required':
        field = (error.params as { missingProperty: string }).missingProperty;
        message = 'is required';
        break;
      case 'type': {
        const type = (error.params as { type: string | string[] }).type;
        const expected = Array.isArray(type) ? type.join(' or ') : type;
        message =
          field === null
            ? 'an event must be a JSON object'
            : `must be ${/^[aeiou]/.test(expected) ? 'an' : 'a'} ${expected}`;
        break;
      }
      case 'enum':
        message = `must be one of ${EVENT_TYPES.join(', ')}`;
        break;
      case 'format':
        message =
          FORMAT_MESSAGES[(error.params as { format: string }).format] ?? error.message ?? 'is malformed';
        break;
      case 'minimum':
        message = `must be at least ${(error.params as { limit: number }).limit}`;
        break;
      case 'maximum':
        message = `must be at most ${(error.params as { limit: number }).limit}`;
        break;
      case 'minLength':
        message = 'must not be empty';
        break;
      case 'maxLength':
        message = `must be at most ${(error.params as { limit: number }).limit} characters long`;
        break;
      case 'anyOf':
        message = field === 'email' ? 'must be an e-mail address or null' : (error.message ?? 'is invalid');
        break;
      default:
        message = error.message ?? 'is invalid';
    }
    const key = field ?? '';
    // For a field with alternatives (email: string or null) the summary replaces the branches' errors.
    if (!byField.has(key) || error.keyword === 'anyOf') byField.set(key, { index, field, message });
  }
  return [...byField.values()];
}

/** Checks every event of the batch; returns all problems, so the storefront can fix them at once. */
export function validateBatch(
  body: unknown,
): { status: 400 | 422; problems: Problem[] } | { events: IncomingEvent[] } {
  if (!validateEnvelope(body)) {
    const error = validateEnvelope.errors?.[0];
    let message = 'the body must be a JSON object {"events": [...]}';
    if (error?.keyword === 'type' && error.instancePath === '/events') message = 'must be an array of events';
    if (error?.keyword === 'minItems') message = 'must hold at least one event';
    if (error?.keyword === 'maxItems')
      message = `holds ${(body as { events: unknown[] }).events.length} events; a batch holds at most ${MAX_EVENTS_PER_BATCH}`;
    return {
      status: 400,
      problems: [
        {
          index: null,
          field: error?.instancePath === '/events' || error?.keyword === 'required' ? 'events' : null,
          message,
        },
      ],
    };
  }
  const problems: Problem[] = [];
  body.events.forEach((event, index) => {
    if (!validateEvent(event)) {
      problems.push(...problemsOf(index, validateEvent.errors ?? []));
      return;
    }
    // The format admits what no clock has (a leap second, year 0); the database would refuse it later.
    if (Number.isNaN(Date.parse(event.event_time.replace(' ', 'T')))) {
      problems.push({ index, field: 'event_time', message: FORMAT_MESSAGES['date-time'] });
    }
  });
  if (problems.length > 0) return { status: 422, problems };
  return { events: body.events as IncomingEvent[] };
}

function tokenDigest(token: string): Buffer {
  return crypto.createHash('sha256').update(token).digest();
}

/**
 * `POST /v1/events`, exactly as DESIGN.md specifies it: bearer token, schema validation with every
 * problem listed, atomic and idempotent storage, then forwarding to each cart's workflow.
 */
export async function registerEventRoutes(app: FastifyInstance, deps: EventRoutesDeps): Promise<void> {
  const expected = tokenDigest(deps.ingestToken);
  const log = deps.logger.scope({ component: 'events' });

  await app.register(async (scope) => {
    // Any content type is read as bytes and parsed here, so that a wrong body is a 400 with a reason.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: EVENTS_BODY_LIMIT },
      (_request, body, done) => done(null, body),
    );

    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const header = request.headers.authorization ?? '';
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      // Compared as digests: constant time, whatever the length of what was sent.
      if (!match || !crypto.timingSafeEqual(tokenDigest(match[1]), expected)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="cartflow events"')
          .send({
            error: 'unauthorized',
            message: match
              ? 'The bearer token is wrong. Send Authorization: Bearer <CARTFLOW_INGEST_TOKEN>. Nothing was stored.'
              : 'Authorization: Bearer <CARTFLOW_INGEST_TOKEN> is missing. Nothing was stored.',
          });
      }
    });

    scope.setErrorHandler(
      (error: { code?: string; statusCode?: number; message: string }, _request, reply) => {
        if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
          return reply.code(413).send({
            error: 'payload_too_large',
            message: `The body is larger than ${EVENTS_BODY_LIMIT / 1024 / 1024} MiB; send at most ${MAX_EVENTS_PER_BATCH} events per request. Nothing was stored.`,
          });
        }
        if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
          return reply.code(400).send({
            error: 'bad_request',
            message: `${error.message}. Nothing was stored.`,
            problems: [{ index: null, field: null, message: error.message }],
          });
        }
        log.error('Storing events failed', { error: error.message, code: error.code });
        return reply.code(503).send({
          error: 'unavailable',
          message: 'The events could not be stored right now; nothing was stored. Send the batch again.',
        });
      },
    );

    scope.post('/v1/events', async (request, reply) => {
      const raw = request.body as Buffer | undefined;
      let body: unknown;
      try {
        body = JSON.parse((raw ?? Buffer.alloc(0)).toString('utf8'));
      } catch (error) {
        return reply.code(400).send({
          error: 'bad_request',
          message: `The body is not JSON (${(error as Error).message}). Nothing was stored.`,
          problems: [{ index: null, field: null, message: 'the body must be JSON: {"events": [...]}' }],
        });
      }
      const checked = validateBatch(body);
      if ('problems' in checked) {
        const invalid = new Set(checked.problems.map((p) => p.index)).size;
        return reply.code(checked.status).send({
          error: checked.status === 400 ? 'bad_request' : 'invalid_events',
          message:
            checked.status === 400
              ? `The body is not a batch of events: ${checked.problems[0].message}. Nothing was stored.`
              : `${invalid} of ${(body as { events: unknown[] }).events.length} events are invalid; nothing of the batch was stored. Fix them and send the batch again.`,
          problems: checked.problems,
        });
      }
      const { stored, duplicates } = await storeEvents(deps.warehouse, checked.events);
      const { deferred } = await deps.forwarder.forward(stored);
      if (deferred > 0) reply.header('x-cartflow-deferred', String(deferred));
      return reply.code(202).send({ accepted: stored.length, duplicates });
    });
  });
}
