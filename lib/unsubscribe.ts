import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config';

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
  if (config.carts.unsubscribeSecret) return config.carts.unsubscribeSecret;
  const file = path.join(config.home, 'unsubscribe-secret');
  fs.mkdirSync(config.home, { recursive: true });
  if (!fs.existsSync(file)) {
    // Written aside and linked into place: linking fails when another process won the race, and then
    // both read the winner's complete file.
    const draft = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(draft, crypto.randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
    try {
      fs.linkSync(draft, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      fs.rmSync(draft, { force: true });
    }
  }
  return fs.readFileSync(file, 'utf8').trim();
}
