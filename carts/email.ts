import type { Offer } from '../contracts/cart-state';

/** One line of the cart as the e-mail shows it. */
export interface EmailLine {
  productId: string;
  name: string;
  quantity: number;
  unitPrice: number;
}

export interface RecommendedProduct {
  productId: string;
  name: string;
  price: number;
  url: string;
}

export interface CartEmailContent {
  kind: 'abandoned' | 'reminder';
  firstName: string | null;
  lines: EmailLine[];
  total: number;
  currency: string;
  offer: Offer;
  cartUrl: string;
  unsubscribeUrl: string;
  /** Products the recommender suggests; the section is left out when there are none. */
  recommendations: RecommendedProduct[];
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

/** The retargeting e-mail, as plain text and HTML with the same content. */
export function renderCartEmail(content: CartEmailContent): RenderedEmail {
  const money = new Intl.NumberFormat('en', { style: 'currency', currency: content.currency });
  const name = content.firstName?.trim() || 'there';
  const offerText =
    content.offer.type === 'percent_off'
      ? `${content.offer.value}% off your order with the code ${content.offer.code}`
      : `free shipping on your order with the code ${content.offer.code}`;
  const subject =
    content.kind === 'reminder'
      ? `Last call, ${name}: your cart and your ${content.offer.type === 'percent_off' ? `${content.offer.value}% off` : 'free shipping'} are waiting`
      : `${name}, you left something in your cart`;
  const intro =
    content.kind === 'reminder'
      ? `your cart is still waiting, and so is your offer: ${offerText}.`
      : `you left these in your cart. Come back and finish your order — ${offerText}.`;

  const text = [
    `Hi ${name},`,
    '',
    intro,
    '',
    ...content.lines.map(
      (line) =>
        `  ${line.quantity} × ${line.name}   ${money.format(line.unitPrice)} each   ${money.format(line.unitPrice * line.quantity)}`,
    ),
    `  Total: ${money.format(content.total)}`,
    '',
    `Your code: ${content.offer.code}`,
    `Back to your cart: ${content.cartUrl}`,
    ...(content.recommendations.length > 0
      ? [
          '',
          'You might also like:',
          ...content.recommendations.map((p) => `  ${p.name}   ${money.format(p.price)}   ${p.url}`),
        ]
      : []),
    '',
    '--',
    `You get this e-mail because you agreed to hear from us. Unsubscribe: ${content.unsubscribeUrl}`,
    '',
  ].join('\n');

  const rows = content.lines
    .map(
      (line) =>
        `<tr><td>${escapeHtml(line.name)}</td><td style="text-align:right">${line.quantity}</td>` +
        `<td style="text-align:right">${money.format(line.unitPrice)}</td>` +
        `<td style="text-align:right">${money.format(line.unitPrice * line.quantity)}</td></tr>`,
    )
    .join('\n');
  const recommendations =
    content.recommendations.length === 0
      ? ''
      : `<h3>You might also like</h3><ul>${content.recommendations
          .map(
            (p) =>
              `<li><a href="${escapeHtml(p.url)}">${escapeHtml(p.name)}</a> — ${money.format(p.price)}</li>`,
          )
          .join('')}</ul>`;
  const html = `<!doctype html>
<html><body style="font-family:sans-serif;max-width:600px">
<p>Hi ${escapeHtml(name)},</p>
<p>${escapeHtml(intro)}</p>
<table cellpadding="6" style="border-collapse:collapse;width:100%">
<thead><tr><th align="left">Product</th><th align="right">Qty</th><th align="right">Price</th><th align="right">Subtotal</th></tr></thead>
<tbody>
${rows}
</tbody>
<tfoot><tr><th align="left" colspan="3">Total</th><th align="right">${money.format(content.total)}</th></tr></tfoot>
</table>
<p style="font-size:1.2em">Your code: <strong>${escapeHtml(content.offer.code)}</strong></p>
<p><a href="${escapeHtml(content.cartUrl)}" style="background:#222;color:#fff;padding:10px 16px;text-decoration:none">Back to your cart</a></p>
${recommendations}
<p style="color:#777;font-size:0.8em">You get this e-mail because you agreed to hear from us.
<a href="${escapeHtml(content.unsubscribeUrl)}">Unsubscribe</a></p>
</body></html>
`;
  return { subject, text, html };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
