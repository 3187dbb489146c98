import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { assertPortFree } from './ports';

/** What the sink keeps of each message, next to the raw `.eml`. */
export interface StoredMail {
  id: string;
  receivedAt: string;
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string | undefined;
  headers: Record<string, string>;
}

export interface SmtpSinkHandle {
  readonly port: number;
  readonly url: string;
  /** Every message received so far, oldest first. */
  list(): StoredMail[];
  /** Stops listening and, half a second later, ends the sessions still open (a pooled sender keeps one). */
  stop(): Promise<void>;
}

/**
 * A real SMTP server that accepts every message and keeps it under `dir` (one `.eml` and one `.json`
 * per message), for development and tests. Production sends to a relay named by `SMTP_URL`.
 */
export async function startSmtpSink(options: {
  dir: string;
  port: number;
  portVariable?: string;
  onMail?: (mail: StoredMail) => void;
}): Promise<SmtpSinkHandle> {
  fs.mkdirSync(options.dir, { recursive: true });
  if (options.port !== 0)
    await assertPortFree(
      options.port,
      'the embedded SMTP sink',
      options.portVariable ?? 'CARTFLOW_SMTP_PORT',
    );

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // Not smtp-server's 30 s: a sender's idle pooled connection would hold the stop that long.
    closeTimeout: 500,
    size: 25 * 1024 * 1024,
    onAuth: (_auth, _session, callback) => callback(null, { user: 'sink' }),
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((parsed) => {
            const receivedAt = new Date();
            const id = `${receivedAt.getTime()}-${crypto.randomBytes(4).toString('hex')}`;
            const headers: Record<string, string> = {};
            for (const [key, value] of parsed.headers)
              headers[key] = typeof value === 'string' ? value : JSON.stringify(value);
            const mail: StoredMail = {
              id,
              receivedAt: receivedAt.toISOString(),
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : undefined,
              headers,
            };
            fs.writeFileSync(path.join(options.dir, `${id}.eml`), raw);
            fs.writeFileSync(path.join(options.dir, `${id}.json`), JSON.stringify(mail));
            options.onMail?.(mail);
            callback();
          })
          .catch(callback);
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;

  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    list: () => listStoredMail(options.dir),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Reads what an SMTP sink kept in `dir`, oldest first. */
export function listStoredMail(dir: string): StoredMail[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as StoredMail);
}
