import crypto from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import type pg from 'pg';
import { parseDuration } from '../lib/config';
import type { CliContext } from './context';

/** A product as the storefront shows it. */
interface LiveProduct {
  productId: string;
  price: number;
  categoryCode: string | null;
  brand: string | null;
}

export interface LiveStorefrontOptions {
  /** The API, e.g. http://localhost:3000. */
  httpUrl: string;
  ingestToken: string;
  /** Events per second to post, on average. */
  rate: number;
  /** The session idle time the server uses: shoppers think for less than that between clicks. */
  sessionIdleMs: number;
  /** Stop after this long; undefined runs until `signal` aborts. */
  durationMs?: number;
  signal?: AbortSignal;
  /** Called every few seconds and at the end with the counts so far. */
  report?: (stats: LiveStats) => void;
  reportEveryMs?: number;
}

export interface LiveStats {
  elapsedMs: number;
  shoppers: number;
  eventsSent: number;
  accepted: number;
  duplicates: number;
  requestsFailed: number;
  bought: number;
  left: number;
}

interface LiveShopper {
  customerId: string;
  session: string;
  cart: Map<string, number>;
  viewed: LiveProduct[];
  nextAt: number;
  steps: number;
}

/** Reads the demo shop's customers and products; fails with what to do when the shop is empty. */
export async function loadLiveShop(shop: pg.Pool): Promise<{ customers: string[]; products: LiveProduct[] }> {
  const customers = await shop.query<{ id: string }>(
    `select customer_id::text as id from customers order by random() limit 20000`,
  );
  const products = await shop.query<{
    id: string;
    price: string;
    category: string | null;
    brand: string | null;
  }>(
    `select product_id::text as id, price::text as price, category, brand from products order by product_id`,
  );
  if (customers.rows.length === 0 || products.rows.length === 0) {
    throw new Error(
      'The demo shop has no customers or products yet: fill it first with "npx cartflow simulate --customers 1000 --days 90 --seed 1".',
    );
  }
  return {
    customers: customers.rows.map((row) => row.id),
    products: products.rows.map((row) => ({
      productId: row.id,
      price: Number(row.price),
      categoryCode: row.category,
      brand: row.brand,
    })),
  };
}

/**
 * A storefront that plays shoppers against `POST /v1/events`: each arrives, views products, puts some in
 * the cart, and then buys (about a third) or leaves (the rest) — leaving is what makes a cart abandoned
 * once the session's idle time passes. Shoppers think for a random time shorter than the idle time
 * between clicks; the number of shoppers in the shop follows from the rate (Little's law). Each tick's
 * events go in one batch.
 */
export async function runLiveStorefront(
  shop: { customers: string[]; products: LiveProduct[] },
  options: LiveStorefrontOptions,
): Promise<LiveStats> {
  const thinkMin = Math.min(options.sessionIdleMs * 0.2, 10_000);
  const thinkMax = Math.min(options.sessionIdleMs * 0.6, 30_000);
  const thinkAverage = (thinkMin + thinkMax) / 2;
  const population = Math.max(1, Math.round((options.rate * thinkAverage) / 1000));
  const tickMs = 200;
  const started = Date.now();
  const stats: LiveStats = {
    elapsedMs: 0,
    shoppers: 0,
    eventsSent: 0,
    accepted: 0,
    duplicates: 0,
    requestsFailed: 0,
    bought: 0,
    left: 0,
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];
  // Popular products get most views: the square of a uniform draw leans to the front of the catalogue.
  const popular = () => shop.products[Math.floor(Math.random() ** 2 * shop.products.length)];
  const think = () => thinkMin + Math.random() * (thinkMax - thinkMin);
  const active: LiveShopper[] = [];
  let lastReport = started;
  let inFlight: Promise<void> = Promise.resolve();

  const eventOf = (shopper: LiveShopper, type: string, product: LiveProduct, quantity = 1) => ({
    event_id: crypto.randomUUID(),
    event_time: new Date().toISOString(),
    event_type: type,
    user_id: shopper.customerId,
    user_session: shopper.session,
    product_id: product.productId,
    price: product.price,
    quantity,
    category_code: product.categoryCode,
    brand: product.brand,
  });

  const byId = new Map(shop.products.map((product) => [product.productId, product]));

  /** One click of a shopper: its events, and whether the shopper is done. */
  const act = (shopper: LiveShopper): { events: Record<string, unknown>[]; done: boolean } => {
    shopper.steps += 1;
    const roll = Math.random();
    const view = () => {
      const product = popular();
      shopper.viewed.push(product);
      return { events: [eventOf(shopper, 'view', product)], done: false };
    };
    const add = () => {
      const product = pick(shopper.viewed);
      const quantity = 1 + Math.floor(Math.random() * 2);
      shopper.cart.set(product.productId, (shopper.cart.get(product.productId) ?? 0) + quantity);
      return { events: [eventOf(shopper, 'cart', product, quantity)], done: false };
    };
    if (shopper.steps === 1) return view();
    if (shopper.cart.size === 0) {
      if (roll < 0.5) return add();
      if (roll < 0.85 && shopper.steps < 10) return view();
      return { events: [], done: true };
    }
    if (roll < 0.35 && shopper.steps < 15) return view();
    if (roll < 0.6 && shopper.steps < 15) return add();
    if (roll < 0.65 && shopper.cart.size > 1) {
      const [productId, quantity] = [...shopper.cart.entries()][0];
      shopper.cart.delete(productId);
      return { events: [eventOf(shopper, 'remove_from_cart', byId.get(productId)!, quantity)], done: false };
    }
    if (roll < 0.8) {
      stats.bought += 1;
      return {
        events: [...shopper.cart.entries()].map(([productId, quantity]) =>
          eventOf(shopper, 'purchase', byId.get(productId)!, quantity),
        ),
        done: true,
      };
    }
    stats.left += 1;
    return { events: [], done: true };
  };

  const post = async (events: Record<string, unknown>[]) => {
    stats.eventsSent += events.length;
    try {
      const response = await fetch(`${options.httpUrl}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.ingestToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      });
      const body = (await response.json()) as { accepted?: number; duplicates?: number };
      if (response.status === 202) {
        stats.accepted += body.accepted ?? 0;
        stats.duplicates += body.duplicates ?? 0;
      } else stats.requestsFailed += 1;
    } catch {
      stats.requestsFailed += 1;
    }
  };

  while (
    !options.signal?.aborted &&
    (options.durationMs === undefined || Date.now() - started < options.durationMs)
  ) {
    const now = Date.now();
    while (active.length < population) {
      stats.shoppers += 1;
      active.push({
        customerId: pick(shop.customers),
        session: `live-${crypto.randomBytes(8).toString('hex')}`,
        cart: new Map(),
        viewed: [],
        nextAt: now + Math.random() * thinkAverage,
        steps: 0,
      });
    }
    const batch: Record<string, unknown>[] = [];
    for (let i = active.length - 1; i >= 0; i--) {
      if (active[i].nextAt > now) continue;
      const { events, done } = act(active[i]);
      batch.push(...events);
      if (done) active.splice(i, 1);
      else active[i].nextAt = now + think();
    }
    for (let i = 0; i < batch.length; i += 1000) {
      const slice = batch.slice(i, i + 1000);
      inFlight = Promise.all([inFlight, post(slice)]).then(() => undefined);
    }
    if (options.report && now - lastReport >= (options.reportEveryMs ?? 10_000)) {
      lastReport = now;
      options.report({ ...stats, elapsedMs: now - started });
    }
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  await inFlight;
  stats.elapsedMs = Date.now() - started;
  options.report?.({ ...stats });
  return stats;
}

function positiveNumber(option: string, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0 || value > max) {
      throw new InvalidArgumentError(`${option} must be a number above 0 and at most ${max}.`);
    }
    return value;
  };
}

function duration(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError('--duration must be a duration like 90s or 10m.');
  return ms;
}

/**
 * `cartflow simulate-live --rate N`: plays a storefront against the running platform's API with the demo
 * shop's customers and products, so that carts are abandoned (and e-mailed) and recovered while you
 * watch. Ctrl-C stops it.
 */
export function registerLiveSimulationCommand(program: Command, context: CliContext): void {
  program
    .command('simulate-live')
    .description(
      'play shoppers against POST /v1/events with the demo shop’s customers and products (Ctrl-C stops)',
    )
    .option('--rate <events/s>', 'events per second on average', positiveNumber('--rate', 5000), 5)
    .option('--duration <time>', 'stop after this long, e.g. 10m (default: until Ctrl-C)', duration)
    .action(async (options: { rate: number; duration?: number }) => {
      const endpoints = context.endpoints();
      if (!endpoints.ingestToken) {
        throw new Error(
          'No ingest token: start the platform with "npm start", or set CARTFLOW_INGEST_TOKEN.',
        );
      }
      const shop = await loadLiveShop(context.shop());
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      process.stdout.write(
        `Playing shoppers at ${options.rate} events/s against ${endpoints.httpUrl} with ${shop.customers.length} customers ` +
          `and ${shop.products.length} products; sessions expire after ${context.config.sessionIdleMs / 1000} s. Ctrl-C stops.\n`,
      );
      const stats = await runLiveStorefront(shop, {
        httpUrl: endpoints.httpUrl,
        ingestToken: endpoints.ingestToken,
        rate: options.rate,
        sessionIdleMs: context.config.sessionIdleMs,
        durationMs: options.duration,
        signal: abort.signal,
        report: (s) =>
          process.stdout.write(
            `  ${(s.elapsedMs / 1000).toFixed(0)} s: ${s.shoppers} shoppers, ${s.accepted} events accepted` +
              `${s.requestsFailed > 0 ? `, ${s.requestsFailed} requests failed` : ''}, ${s.bought} bought, ${s.left} left their cart\n`,
          ),
      });
      if (stats.requestsFailed > 0) process.exitCode = 1;
    });
}
