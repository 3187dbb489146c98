import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../lib/config';
import {
  resolveUnsubscribeSecret,
  signUnsubscribeToken,
  verifyUnsubscribeToken,
} from '../../lib/unsubscribe';

describe('unsubscribe tokens', () => {
  const secret = 'a-test-secret-that-is-long-enough';

  it('name the customer they were signed for, even ids beyond 2^53', () => {
    for (const id of ['1', '42', '9007199254740993', '999999999999999999']) {
      expect(verifyUnsubscribeToken(secret, signUnsubscribeToken(secret, id))).toBe(id);
    }
  });

  it('refuse altered, forged, foreign and malformed tokens', () => {
    const token = signUnsubscribeToken(secret, '42');
    const [version, id, mac] = token.split('.');
    expect(verifyUnsubscribeToken(secret, `${version}.${(41).toString(36)}.${mac}`)).toBeUndefined();
    expect(verifyUnsubscribeToken(secret, `${version}.${id}.${mac.slice(0, -1)}A`)).toBeUndefined();
    expect(verifyUnsubscribeToken('another-secret-of-enough-length', token)).toBeUndefined();
    for (const bad of ['', 'v1', 'v1..', 'v2.16.AAAAAAAAAAAAAAAAAAAAAA', `${token}.x`]) {
      expect(verifyUnsubscribeToken(secret, bad)).toBeUndefined();
    }
  });

  it('carry no address', () => {
    expect(signUnsubscribeToken(secret, '42')).not.toMatch(/@/);
  });

  it('use a secret generated once under CARTFLOW_HOME when none is configured', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-secret-'));
    try {
      const config = loadConfig({ CARTFLOW_HOME: home });
      const first = resolveUnsubscribeSecret(config);
      expect(first.length).toBeGreaterThanOrEqual(32);
      expect(resolveUnsubscribeSecret(config)).toBe(first);
      expect(fs.statSync(path.join(home, 'unsubscribe-secret')).mode & 0o077).toBe(0);
      const configured = loadConfig({ CARTFLOW_HOME: home, CARTFLOW_UNSUBSCRIBE_SECRET: secret });
      expect(resolveUnsubscribeSecret(configured)).toBe(secret);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
