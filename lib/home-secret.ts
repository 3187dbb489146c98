import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A secret kept in a file of CARTFLOW_HOME (0600): generated at first use, then read, so every process
 * of one home agrees on it. The file is written aside and linked into place: linking fails when another
 * process won the race, and then both read the winner's complete file.
 */
export function secretInHome(home: string, name: string, bytes: number): string {
  const file = path.join(home, name);
  fs.mkdirSync(home, { recursive: true });
  if (!fs.existsSync(file)) {
    const draft = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(draft, crypto.randomBytes(bytes).toString('base64url') + '\n', { mode: 0o600 });
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
