import { formatBasisPoints, formatCents, formatTime, type CopyValue } from './copy';
import type { DirtCounts } from './dirt';
import type { CustomerRow, OrderLineRow, OrderRow, PaymentRow, ProductRow, SiteEventRow } from './rows';

/**
 * How each simulated row maps onto its shop table's columns (see
 * migrations/shop/20261123_001_storefront.ts). Both `created_at` and `updated_at` are always given:
 * the tables default them to now(), which would make two runs differ.
 */
export interface TableMapping<Row> {
  table: string;
  columns: readonly string[];
  values(row: Row): CopyValue[];
  /** Adds the row's planted defects to the tally. */
  countDirt?(row: Row, dirt: DirtCounts): void;
}

export const CUSTOMERS: TableMapping<CustomerRow> = {
  table: 'customers',
  columns: [
    'customer_id',
    'first_name',
    'last_name',
    'email',
    'marketing_consent',
    'address_line',
    'city',
    'state',
    'postal_code',
    'country',
    'birth_year',
    'gender',
    'signup_at',
    'created_at',
    'updated_at',
  ],
  values: (row) => [
    row.customerId,
    row.firstName,
    row.lastName,
    row.email,
    row.marketingConsent,
    row.addressLine,
    row.city,
    row.state,
    row.postalCode,
    row.country,
    row.birthYear,
    row.gender,
    formatTime(row.signupAt),
    formatTime(row.createdAt),
    formatTime(row.updatedAt),
  ],
  countDirt: (row, dirt) => {
    if (row.email === null) dirt.customerEmailMissing++;
    if (row.city === null) dirt.customerCityMissing++;
  },
};

export const PRODUCTS: TableMapping<ProductRow> = {
  table: 'products',
  columns: ['product_id', 'sku', 'name', 'category', 'brand', 'price', 'stock', 'created_at', 'updated_at'],
  values: (row) => [
    row.productId,
    row.sku,
    row.name,
    row.category,
    row.brand,
    formatCents(row.priceCents),
    row.stock,
    formatTime(row.createdAt),
    formatTime(row.updatedAt),
  ],
  countDirt: (row, dirt) => {
    if (row.brand === null) dirt.productBrandMissing++;
  },
};

export const ORDERS: TableMapping<OrderRow> = {
  table: 'orders',
  columns: ['order_id', 'customer_id', 'status', 'placed_at', 'currency', 'created_at', 'updated_at'],
  values: (row) => [
    row.orderId,
    row.customerId,
    row.status,
    formatTime(row.placedAt),
    row.currency,
    formatTime(row.createdAt),
    formatTime(row.updatedAt),
  ],
};

export const ORDER_LINES: TableMapping<OrderLineRow> = {
  table: 'order_lines',
  columns: [
    'order_line_id',
    'order_id',
    'product_id',
    'quantity',
    'unit_price',
    'discount',
    'created_at',
    'updated_at',
  ],
  values: (row) => [
    row.orderLineId,
    row.orderId,
    row.productId,
    row.quantity,
    formatCents(row.unitPriceCents),
    formatBasisPoints(row.discountBasisPoints),
    formatTime(row.createdAt),
    formatTime(row.updatedAt),
  ],
  countDirt: (row, dirt) => {
    // A duplicate repeats its original's defects; count those once, on the original.
    if (row.duplicate) {
      dirt.orderLineDuplicated++;
      return;
    }
    if (row.quantity < 0) dirt.orderLineNegativeQuantity++;
    if (row.unitPriceCents < 0) dirt.orderLineNegativeUnitPrice++;
  },
};

export const PAYMENTS: TableMapping<PaymentRow> = {
  table: 'payments',
  columns: ['payment_id', 'order_id', 'amount', 'method', 'status', 'paid_at', 'created_at', 'updated_at'],
  values: (row) => [
    row.paymentId,
    row.orderId,
    formatCents(row.amountCents),
    row.method,
    row.status,
    formatTime(row.paidAt),
    formatTime(row.createdAt),
    formatTime(row.updatedAt),
  ],
};

export const SITE_EVENTS: TableMapping<SiteEventRow> = {
  table: 'site_events',
  columns: [
    'event_id',
    'event_time',
    'event_type',
    'customer_id',
    'session_id',
    'product_id',
    'price',
    'quantity',
    'created_at',
    'updated_at',
  ],
  values: (row) => {
    // Events are append-only: stored when they happen, never changed.
    const time = formatTime(row.eventTime);
    return [
      row.eventId,
      time,
      row.eventType,
      row.customerId,
      row.sessionId,
      row.productId,
      formatCents(row.priceCents),
      row.quantity,
      time,
      time,
    ];
  },
};

/** Every shop table, children after parents: the order to fill them in (and the reverse to empty them). */
export const SHOP_TABLES = [
  'customers',
  'products',
  'orders',
  'order_lines',
  'payments',
  'site_events',
] as const;
