/**
 * The JSON schemas of `POST /v1/events` (DESIGN.md, "Storefront events"): the envelope, whose failures
 * are a 400, and one event, whose failures are a 422 listing each problem. Fields the contract does not
 * name are allowed and ignored, so REES46 exports (with `category_id`) replay as they are, and so
 * storefronts can send fields a later version adds.
 */

export const MAX_EVENTS_PER_BATCH = 1000;

export const EVENT_TYPES = ['view', 'cart', 'remove_from_cart', 'purchase'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One event as the storefront sends it, once the schema has passed it. */
export interface IncomingEvent {
  event_id: string;
  event_time: string;
  event_type: EventType;
  user_id: string;
  user_session: string;
  product_id: string;
  price: number;
  quantity?: number;
  category_code?: string | null;
  brand?: string | null;
  email?: string | null;
}

export const envelopeSchema = {
  $id: 'cartflow/events-envelope',
  type: 'object',
  required: ['events'],
  properties: {
    events: { type: 'array', minItems: 1, maxItems: MAX_EVENTS_PER_BATCH },
  },
} as const;

const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength }) as const;
const optionalText = (maxLength: number) => ({ type: ['string', 'null'], maxLength }) as const;

export const eventSchema = {
  $id: 'cartflow/event',
  type: 'object',
  required: ['event_id', 'event_time', 'event_type', 'user_id', 'user_session', 'product_id', 'price'],
  properties: {
    event_id: { type: 'string', format: 'uuid' },
    event_time: { type: 'string', format: 'date-time', maxLength: 40 },
    event_type: { type: 'string', enum: EVENT_TYPES },
    user_id: text(100),
    user_session: text(200),
    product_id: text(100),
    price: { type: 'number', minimum: 0, maximum: 1e9 },
    quantity: { type: 'integer', minimum: 1, maximum: 100_000 },
    category_code: optionalText(300),
    brand: optionalText(200),
    email: { anyOf: [{ type: 'string', format: 'email', maxLength: 254 }, { type: 'null' }] },
  },
} as const;
