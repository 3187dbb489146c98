import crypto from 'node:crypto';
import { createPool } from '../../lib/db';
import { createLogger } from '../../lib/log';
import { cartSettingsFrom, createCartForwarder } from '../../server/cart-forwarder';
import type { IncomingEvent } from '../../server/events-schema';
import { storeEvents } from '../../server/events-store';
import {
  customersOutsideHoldout,
  makeEvent,
  seedShop,
  startCartStack,
  waitFor,
  type CartStack,
} from '../helpers/carts';
import { startTestWorker } from '../helpers/temporal';

const PRODUCTS = [
  { id: 101, name: 'Espresso cup', price: 12.5 },
  { id: 102, name: 'Moka pot', price: 39.9 },
  { id: 201, name: 'Milk jug', price: 15 },
  { id: 202, name: 'Coffee beans', price: 9.5 },
  { id: 203, name: 'Tamper', price: 22 },
  { id: 204, name: 'Sold-out scale', price: 30 },
  { id: 205, name: 'Descaler', price: 7.25 },
];

describe('the retargeting e-mail recommends products from the latest fit', () => {
  let stack: CartStack;
  const [withoutModel, withModel, onOneConnection] = customersOutsideHoldout(3, 0.1);

  beforeAll(async () => {
    stack = await startCartStack('cart_recommendations', { CARTFLOW_SESSION_IDLE: '1s' });
    await seedShop(
      stack.deps.shop,
      [withoutModel, withModel, onOneConnection].map((id) => ({ id, firstName: 'Ada' })),
      PRODUCTS,
    );
    await stack.deps.shop.query(`update products set stock = case when product_id = 204 then 0 else 5 end`);
  });
  afterAll(async () => stack?.stop());

  const abandon = async (customer: number) => {
    const session = `rec-${crypto.randomUUID()}`;
    const response = await stack.post({
      events: [
        makeEvent({ user_session: session, user_id: String(customer), product_id: '101', price: 12.5 }),
        makeEvent({ user_session: session, user_id: String(customer), product_id: '102', price: 39.9 }),
      ],
    });
    expect(response.status).toBe(202);
    return waitFor(`the e-mail of ${session}`, () =>
      stack.mailsFor(session).find((mail) => mail.headers['x-cartflow-kind'] === 'abandoned'),
    );
  };

  it('goes out without the block while no model exists', async () => {
    const mail = await abandon(withoutModel);
    expect(mail.text).toContain('1 × Espresso cup');
    expect(mail.text).not.toContain('You might also like');
    expect(mail.html).not.toContain('You might also like');
  });

  it('shows three products chosen with the cart as context: in stock, with name, price and link, none from the cart', async () => {
    const { warehouse } = stack.deps;
    const { rows } = await warehouse.query<{ version_id: number }>(
      `insert into ops.model_versions (model, as_of, status, backend, code_version)
       values ('recommendations', '2026-11-20', 'succeeded', 'test', 'test') returning version_id::int`,
    );
    const v = rows[0].version_id;
    // The customer's own list (little history: co-occurrence) holds a cart item and a sold-out product.
    await warehouse.query(
      `insert into mart.recommendations values
         ('2026-11-20', 'shop', $1, 1, '101', 0.9, 'co-occurrence', $2),
         ('2026-11-20', 'shop', $1, 2, '204', 0.8, 'co-occurrence', $2),
         ('2026-11-20', 'shop', $1, 3, '201', 0.7, 'co-occurrence', $2)`,
      [String(withModel), v],
    );
    await warehouse.query(
      `insert into mart.related_products values
         ('2026-11-20', 'shop', '101', 1, '202', 0.6, $1),
         ('2026-11-20', 'shop', '101', 2, '102', 0.5, $1),
         ('2026-11-20', 'shop', '102', 1, '202', 0.3, $1),
         ('2026-11-20', 'shop', '102', 2, '203', 0.4, $1)`,
      [v],
    );
    await warehouse.query(
      `insert into mart.popular_products values
         ('2026-11-20', 'shop', '', 1, '203', 40, $1),
         ('2026-11-20', 'shop', '', 2, '205', 30, $1)`,
      [v],
    );
    const mail = await abandon(withModel);
    // Bought together with the cart: 202 (0.6 + 0.3), 203 (0.4); then the customer's own list: 201.
    const block = mail.text.slice(mail.text.indexOf('You might also like:'));
    expect(block.split('\n').slice(1, 4)).toEqual([
      '  Coffee beans   €9.50   http://shop.test/products/202',
      '  Tamper   €22.00   http://shop.test/products/203',
      '  Milk jug   €15.00   http://shop.test/products/201',
    ]);
    expect(block.split('\n')[4]).toBe('');
    expect(mail.html).toContain('<a href="http://shop.test/products/202">Coffee beans</a> — €9.50');
    for (const absent of ['Espresso cup', 'Moka pot', 'Sold-out scale', 'Descaler'])
      expect(block).not.toContain(absent);
  });

  it('reads the recommendations through the connection the send holds: a warehouse pool of one connection still sends', async () => {
    // The send holds a warehouse connection for its whole transaction. Had it asked the pool for a
    // second (for the recommendations or the contact), as many sends as the pool has connections would
    // wait for each other: with a pool of one, the first send already would.
    const onePool = createPool(stack.databases.warehouseUrl, 'test-one-connection', 1);
    const worker = await startTestWorker({ ...stack.deps, warehouse: onePool });
    try {
      const session = `one-connection-${crypto.randomUUID()}`;
      const events = [
        makeEvent({ user_session: session, user_id: String(onOneConnection), product_id: '102' }),
      ];
      const { stored } = await storeEvents(stack.deps.warehouse, events as unknown as IncomingEvent[]);
      const forwarder = createCartForwarder({
        client: stack.client,
        warehouse: stack.deps.warehouse,
        taskQueue: worker.taskQueues.carts,
        settings: cartSettingsFrom(stack.deps.config),
        logger: createLogger('error'),
      });
      expect(await forwarder.forward(stored)).toEqual({ forwarded: 1, deferred: 0 });
      const mail = await waitFor(`the e-mail of ${session}`, () =>
        stack.mailsFor(session).find((m) => m.headers['x-cartflow-kind'] === 'abandoned'),
      );
      // The popular products of the fit above, read through the send's own connection.
      expect(mail.text).toContain('You might also like:');
      expect(mail.text).toContain('Tamper');
    } finally {
      await worker.stop();
      await onePool.end();
    }
  });
});
