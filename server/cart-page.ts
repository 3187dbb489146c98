import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { cartWorkflowId } from '../contracts/names';
import { cartQuery } from '../workflows/cart';

/**
 * `GET /cart/:session`, where the e-mail's "back to your cart" link points by default: the demo
 * storefront's cart page, read from the cart's workflow with its query. `GET /v1/carts/:session` gives
 * the same as JSON. A real shop points CARTFLOW_CART_URL at its own cart page instead.
 */
export async function registerCartPageRoutes(
  app: FastifyInstance,
  deps: { temporal: Client },
): Promise<void> {
  const readCart = async (session: string) => {
    try {
      return await deps.temporal.workflow.getHandle(cartWorkflowId(session)).query(cartQuery);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    }
  };

  app.get<{ Params: { session: string } }>('/v1/carts/:session', async (request, reply) => {
    const cart = await readCart(request.params.session);
    if (!cart)
      return reply
        .code(404)
        .send({ error: 'not_found', message: `No cart for session ${request.params.session}` });
    return cart;
  });

  app.get<{ Params: { session: string }; Querystring: { code?: string } }>(
    '/cart/:session',
    async (request, reply) => {
      const cart = await readCart(request.params.session);
      reply.type('text/html; charset=utf-8');
      if (!cart) return reply.code(404).send(`<!doctype html><h1>This cart is gone</h1>`);
      const rows = cart.items
        .map(
          (item) =>
            `<tr><td>Product ${escapeHtml(item.productId)}</td><td align="right">${item.quantity}</td><td align="right">${item.unitPrice.toFixed(2)}</td></tr>`,
        )
        .join('');
      const code = request.query.code
        ? `<p>Your code <strong>${escapeHtml(request.query.code)}</strong> is applied at checkout.</p>`
        : '';
      return `<!doctype html><html><head><meta charset="utf-8"><title>Your cart</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:4em auto"><h1>Your cart</h1>
<table cellpadding="6"><tr><th align="left">Product</th><th>Qty</th><th>Price</th></tr>${rows}
<tr><th align="left" colspan="2">Total</th><th align="right">${cart.value.toFixed(2)}</th></tr></table>${code}</body></html>\n`;
    },
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
