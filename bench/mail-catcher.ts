/**
 * The SMTP server bench:carts catches e-mails with, in a process of its own so that the thousands of
 * shoppers the bench plays do not slow its replies. It prints one JSON line per e-mail: when it
 * arrived (ms since the epoch, sub-millisecond), its cart, kind and Message-ID — and first the port.
 */
import { performance } from 'node:perf_hooks';
import { SMTPServer } from 'smtp-server';

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onData(stream, _session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const at = performance.timeOrigin + performance.now();
      const raw = Buffer.concat(chunks).toString('utf8');
      const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
      const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1].trim() ?? '';
      process.stdout.write(
        `${JSON.stringify({ at, cart: header('X-Cartflow-Cart'), kind: header('X-Cartflow-Kind'), messageId: header('Message-ID') })}\n`,
      );
      callback();
    });
  },
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.server.address() as { port: number }).port })}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
