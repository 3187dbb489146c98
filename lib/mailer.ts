import nodemailer, { type Transporter } from 'nodemailer';

/** An SMTP transport for `SMTP_URL`; pooled, so a burst of e-mails reuses a few connections. */
export function createMailer(smtpUrl: string): Transporter {
  const url = new URL(smtpUrl);
  return nodemailer.createTransport({
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 587)),
    secure: url.protocol === 'smtps:',
    auth: url.username
      ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
      : undefined,
    pool: true,
    maxConnections: 5,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    // A local sink speaks plain SMTP; a relay upgrades with STARTTLS when it offers it.
    ignoreTLS: url.hostname === '127.0.0.1' || url.hostname === 'localhost',
  });
}
