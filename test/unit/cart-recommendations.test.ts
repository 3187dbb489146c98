import { orderCartCandidates } from '../../carts/recommender';

describe("the e-mail's order of candidates", () => {
  const lists = (method: string) => ({
    own: [
      { product_id: 'a', method },
      { product_id: 'cart1', method },
      { product_id: 'b', method },
    ],
    related: ['r', 'a'],
    popular: ['p', 'r', 'cart2'],
  });

  it("puts a factorised customer's own list first, then bought-together, then popular, without the cart", () => {
    expect(orderCartCandidates(lists('factorisation'), ['cart1', 'cart2'])).toEqual(['a', 'b', 'r', 'p']);
  });

  it('puts bought-together with the cart first for a customer with little history', () => {
    expect(orderCartCandidates(lists('co-occurrence'), ['cart1', 'cart2'])).toEqual(['r', 'a', 'b', 'p']);
  });

  it('falls back to popular products for an unknown customer', () => {
    expect(orderCartCandidates({ own: [], related: [], popular: ['p', 'cart1', 'q'] }, ['cart1'])).toEqual([
      'p',
      'q',
    ]);
  });
});
