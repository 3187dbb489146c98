import crypto from 'node:crypto';
import type { Config } from './config';
import { secretInHome } from './home-secret';

/**
 * Signed unsubscribe tokens: `v1.<customer id in base 36>.<HMAC-SHA256, 128 bits, base64url>`. The token
 * names a customer id, never an address, so links in e-mails leak nothing when they are logged. It does
 * not expire: an unsubscribe link must keep working for as long as the e-mail can be read.
 */
export function signUnsubscribeToken(secret: string, customerId: string): string {
  const id = BigInt(customerId).toString(36);
  return `v1.${id}.${mac(secret, id)}`;
}

/** The customer id a genuine token names, or undefined for anything forged, altered or malformed. */
export function verifyUnsubscribeToken(secret: string, token: string): string | undefined {
  const match = /^v1\.([0-9a-z]{1,13})\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!match) return undefined;
  const expected = Buffer.from(mac(secret, match[1]));
  const given = Buffer.from(match[2]);
  if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) return undefined;
  let id = 0n;
  for (const digit of match[1]) id = id * 36n + BigInt(parseInt(digit, 36));
  return id.toString();
}

function mac(secret: string, id: string): string {
  return crypto
    .createHmac('sha256', secret)
    .update(`unsubscribe:${id}`)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}

/**
 * The secret that signs unsubscribe links: CARTFLOW_UNSUBSCRIBE_SECRET, else one generated at first use
 * and kept in CARTFLOW_HOME/unsubscribe-secret, shared by every process that uses the same home.
 */
export function resolveUnsubscribeSecret(config: Config): string {
  return config.carts.unsubscribeSecret || secretInHome(config.home, 'unsubscribe-secret', 32);
}
