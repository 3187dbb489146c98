/**
 * The dirt a real shop database accumulates, planted on purpose at known rates so that the
 * warehouse's quality rules and quarantine have something to find. Each rate is the probability
 * that one row (of the table named) carries that defect; the defects are drawn independently.
 * The simulation's summary counts how many rows actually got each one.
 */
export const DIRT_RATES = {
  /** Customers who checked out as guests and never gave an e-mail address: `customers.email` is null. */
  customerEmailMissing: 0.02,
  /** An address form that lost its city: `customers.city` is null. */
  customerCityMissing: 0.01,
  /** Products imported from a supplier feed without a brand: `products.brand` is null. */
  productBrandMissing: 0.02,
  /** A sign error in a back-office correction: `order_lines.quantity` is negative. */
  orderLineNegativeQuantity: 0.003,
  /** A refund booked as a line with a negative price: `order_lines.unit_price` is negative. */
  orderLineNegativeUnitPrice: 0.002,
  /**
   * A double-submitted checkout: the same line (order, product, quantity, price) written twice with
   * two different `order_line_id`s. The rate is per original line; the copy is the extra row.
   */
  orderLineDuplicated: 0.005,
} as const;

export type DirtKind = keyof typeof DIRT_RATES;

/** How many rows got each defect. */
export type DirtCounts = Record<DirtKind, number>;

export function emptyDirtCounts(): DirtCounts {
  return Object.fromEntries(Object.keys(DIRT_RATES).map((kind) => [kind, 0])) as DirtCounts;
}
