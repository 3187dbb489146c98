import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listStoredMail, startSmtpSink, type SmtpSinkHandle } from '../../lib/embedded/smtp';
import { createMailer } from '../../lib/mailer';

describe('the embedded SMTP sink', () => {
  let dir: string;
  let sink: SmtpSinkHandle;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cartflow-mail-'));
    sink = await startSmtpSink({ dir, port: 0 });
  });

  afterAll(async () => {
    await sink.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('receives what nodemailer sends over real SMTP, keeps it on disk and lists it', async () => {
    const mailer = createMailer(sink.url);
    try {
      await mailer.sendMail({
        from: 'shop@example.com',
        to: 'ada@example.com',
        subject: 'Your cart is waiting',
        text: 'Two items are still in your cart.',
        html: '<p>Two items are still in <b>your cart</b>.</p>',
        headers: { 'X-Cartflow-Cart': 'cart-1' },
      });
    } finally {
      mailer.close();
    }
    const [mail] = sink.list();
    expect(mail).toMatchObject({
      from: 'shop@example.com',
      to: ['ada@example.com'],
      subject: 'Your cart is waiting',
      text: expect.stringContaining('Two items are still in your cart.'),
      html: expect.stringContaining('<b>your cart</b>'),
    });
    expect(mail.headers['x-cartflow-cart']).toBe('cart-1');
    expect(fs.existsSync(path.join(dir, `${mail.id}.eml`))).toBe(true);
    expect(listStoredMail(dir)).toEqual(sink.list());
  });
});
