/**
 * One row of each shop table as the simulator produces it. Times are epoch milliseconds of the
 * simulated clock, money is in integer cents (no floating-point rounding in sums), discounts in
 * basis points (1/10,000).
 */

export interface CustomerRow {
  customerId: number;
  firstName: string;
  lastName: string;
  email: string | null;
  marketingConsent: boolean;
  addressLine: string;
  city: string | null;
  state: string;
  postalCode: string;
  country: string;
  birthYear: number;
  gender: string | null;
  signupAt: number;
  createdAt: number;
  updatedAt: number;
}

export interface ProductRow {
  productId: number;
  sku: string;
  name: string;
  category: string;
  brand: string | null;
  priceCents: number;
  stock: number;
  createdAt: number;
  updatedAt: number;
}

export type OrderStatus = 'placed' | 'paid' | 'shipped' | 'cancelled' | 'returned';

export interface OrderRow {
  orderId: number;
  customerId: number;
  status: OrderStatus;
  placedAt: number;
  currency: string;
  createdAt: number;
  updatedAt: number;
}

export interface OrderLineRow {
  orderLineId: number;
  orderId: number;
  productId: number;
  quantity: number;
  unitPriceCents: number;
  discountBasisPoints: number;
  createdAt: number;
  updatedAt: number;
  /** Not a column: marks the second copy of a double-submitted line, for the dirt count. */
  duplicate: boolean;
}

export type PaymentStatus = 'captured' | 'refunded' | 'failed';

export interface PaymentRow {
  paymentId: number;
  orderId: number;
  amountCents: number;
  method: string;
  status: PaymentStatus;
  paidAt: number;
  createdAt: number;
  updatedAt: number;
}

export type SiteEventType = 'view' | 'cart' | 'remove_from_cart' | 'purchase';

export interface SiteEventRow {
  eventId: string;
  eventTime: number;
  eventType: SiteEventType;
  customerId: number | null;
  sessionId: string;
  productId: number;
  priceCents: number;
  quantity: number;
}
