/**
 * The shape of a customer document (Homestead-like: a customer with its `address{}`, `products[]` and
 * `orders[]`), read leniently: keys are matched loosely (`customerId`, `customer_id`, `CustomerID`),
 * ids may be MongoDB extended JSON (`{"$oid": …}`), dates ISO text, epoch numbers or `{"$date": …}`.
 * Pure: it turns one parsed document into flat, text-valued records; the warehouse does the rest.
 */
import type { DateColumn, DatePrecision } from './dates';
import { normalizeColumnName, normalizeNumber } from './values';

export interface NormalizedDate {
  raw: string | undefined;
  iso: string | undefined;
  dayFirst: string | undefined;
  precision: DatePrecision | undefined;
}

export interface NormalizedItem {
  product_id: string | undefined;
  quantity: string | undefined;
  unit_price: string | undefined;
  name: string | undefined;
}

export interface NormalizedOrder {
  order_id: string | undefined;
  status: string | undefined;
  /** Free-text comments, kept for analysis: several are joined by blank lines. */
  comments: string | undefined;
  date: NormalizedDate;
  total: string | undefined;
  items: NormalizedItem[];
  /** The order as written, for the quarantine. */
  raw: unknown;
}

export interface NormalizedProduct {
  product_id: string | undefined;
  name: string | undefined;
  category: string | undefined;
  brand: string | undefined;
  price: string | undefined;
  raw: unknown;
}

export interface NormalizedDocument {
  customer_id: string | undefined;
  first_name: string | undefined;
  last_name: string | undefined;
  company_name: string | undefined;
  email: string | undefined;
  phone: string | undefined;
  address_line: string | undefined;
  city: string | undefined;
  state: string | undefined;
  postal_code: string | undefined;
  country: string | undefined;
  signup: NormalizedDate;
  products: NormalizedProduct[];
  orders: NormalizedOrder[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The first of `names` the object has (compared loosely), when its value is not null. */
function pick(object: JsonObject, ...names: string[]): Json | undefined {
  const wanted = names.map(normalizeColumnName);
  for (const name of wanted)
    for (const [key, value] of Object.entries(object))
      if (normalizeColumnName(key) === name && value !== null && value !== undefined) return value;
  return undefined;
}

/** Scalars as text; MongoDB's `{"$oid"}`, `{"$numberLong"}`, `{"$numberDecimal"}` as their value. */
export function textOf(value: Json | undefined): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (isObject(value)) {
    const wrapped =
      value.$oid ?? value.$numberLong ?? value.$numberInt ?? value.$numberDecimal ?? value.$numberDouble;
    if (wrapped !== undefined) return textOf(wrapped);
  }
  return JSON.stringify(value);
}

const numberText = (value: Json | undefined) => normalizeNumber(textOf(value));

function readDate(value: Json | undefined, dates: DateColumn, line: number): NormalizedDate {
  let v = value;
  if (isObject(v) && v.$date !== undefined) v = v.$date;
  if (isObject(v) && v.$numberLong !== undefined) v = Number(v.$numberLong);
  if (typeof v === 'number' && Number.isFinite(v)) {
    // Epoch: milliseconds when it is that large, else seconds.
    const ms = Math.abs(v) > 1e11 ? v : v * 1000;
    const iso = new Date(ms).toISOString().replace('T', ' ').replace('Z', ' Z');
    return { raw: String(value), ...dates.read(iso, line) };
  }
  const raw = textOf(v);
  const read = dates.read(raw, line);
  return { raw, iso: read.iso, dayFirst: read.dayFirst, precision: read.precision };
}

function commentsOf(value: Json | undefined): string | undefined {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : [value];
  const texts = list
    .map((c) =>
      isObject(c) ? (textOf(pick(c, 'text', 'comment', 'body', 'message', 'note')) ?? textOf(c)) : textOf(c),
    )
    .filter((t): t is string => t !== undefined && t !== '');
  return texts.length === 0 ? undefined : texts.join('\n\n');
}

function itemOf(value: Json): NormalizedItem {
  if (!isObject(value))
    return { product_id: textOf(value), quantity: undefined, unit_price: undefined, name: undefined };
  const product = pick(value, 'product', 'productId', 'product_id', 'id', '_id', 'sku', 'item');
  const nested = isObject(product) && product.$oid === undefined ? product : undefined;
  return {
    product_id: nested
      ? textOf(pick(nested, 'id', '_id', 'productId', 'product_id', 'sku'))
      : textOf(product),
    quantity: numberText(pick(value, 'quantity', 'qty', 'count', 'units')),
    unit_price: numberText(
      pick(value, 'price', 'unitPrice', 'unit_price') ?? (nested ? pick(nested, 'price') : undefined),
    ),
    name: textOf(
      pick(value, 'name', 'title', 'productName') ?? (nested ? pick(nested, 'name', 'title') : undefined),
    ),
  };
}

function orderOf(value: Json, dates: DateColumn, line: number): NormalizedOrder {
  if (!isObject(value))
    return {
      order_id: textOf(value),
      status: undefined,
      comments: undefined,
      date: { raw: undefined, iso: undefined, dayFirst: undefined, precision: undefined },
      total: undefined,
      items: [],
      raw: value,
    };
  const items = pick(value, 'items', 'lines', 'lineItems', 'orderItems', 'products');
  return {
    order_id: textOf(pick(value, 'id', '_id', 'orderId', 'order_id', 'number', 'orderNumber')),
    status: textOf(pick(value, 'status', 'state'))?.toLowerCase(),
    comments: commentsOf(pick(value, 'comments', 'comment', 'notes', 'note')),
    date: readDate(
      pick(value, 'date', 'orderDate', 'placedAt', 'placed_at', 'createdAt', 'created_at', 'created'),
      dates,
      line,
    ),
    total: numberText(pick(value, 'total', 'amount', 'orderTotal', 'grandTotal')),
    items: Array.isArray(items) ? items.map(itemOf) : [],
    raw: value,
  };
}

function productOf(value: Json): NormalizedProduct {
  if (!isObject(value))
    return {
      product_id: textOf(value),
      name: undefined,
      category: undefined,
      brand: undefined,
      price: undefined,
      raw: value,
    };
  return {
    product_id: textOf(pick(value, 'id', '_id', 'productId', 'product_id', 'sku')),
    name: textOf(pick(value, 'name', 'title', 'productName')),
    category: textOf(pick(value, 'category', 'type')),
    brand: textOf(pick(value, 'brand', 'maker', 'manufacturer')),
    price: numberText(pick(value, 'price', 'unitPrice', 'unit_price')),
    raw: value,
  };
}

/** Splits `Ada King Lovelace` into given names and a family name, when the document has only `name`. */
function splitName(name: string | undefined): [string | undefined, string | undefined] {
  if (!name) return [undefined, undefined];
  const parts = name.trim().split(/\s+/);
  return parts.length === 1 ? [parts[0], undefined] : [parts.slice(0, -1).join(' '), parts[parts.length - 1]];
}

/**
 * One customer document, flattened. Throws (for the quarantine) only when it is no object; every
 * other problem (no id, a bad date) is the warehouse's to flag, per customer, order, line or product.
 */
export function normalizeDocument(value: unknown, dates: DateColumn, line: number): NormalizedDocument {
  if (!isObject(value))
    throw new TypeError(
      `a document must be a JSON object, not ${Array.isArray(value) ? 'an array' : typeof value}`,
    );
  const doc = value;
  const nameValue = pick(doc, 'name', 'fullName', 'customerName');
  const nameObject = isObject(nameValue) ? nameValue : undefined;
  const [first, last] = splitName(nameObject ? undefined : textOf(nameValue));
  const address = pick(doc, 'address', 'shippingAddress', 'billingAddress');
  const a = isObject(address) ? address : undefined;
  const street = a
    ? [pick(a, 'street', 'line1', 'addressLine', 'address_line', 'address'), pick(a, 'line2', 'street2')]
        .map(textOf)
        .filter(Boolean)
        .join(', ') || undefined
    : textOf(address);
  const products = pick(doc, 'products');
  const orders = pick(doc, 'orders');
  return {
    customer_id: textOf(pick(doc, '_id', 'id', 'customerId', 'customer_id', 'customerNumber')),
    first_name:
      textOf(pick(doc, 'firstName', 'first_name', 'givenName')) ??
      (nameObject ? textOf(pick(nameObject, 'first', 'given', 'firstName')) : first),
    last_name:
      textOf(pick(doc, 'lastName', 'last_name', 'familyName', 'surname')) ??
      (nameObject ? textOf(pick(nameObject, 'last', 'family', 'lastName')) : last),
    company_name: textOf(pick(doc, 'company', 'companyName', 'company_name')),
    email: textOf(pick(doc, 'email', 'emailAddress', 'mail')),
    phone: textOf(pick(doc, 'phone', 'phoneNumber', 'telephone')),
    address_line: street,
    city: a ? textOf(pick(a, 'city', 'town')) : undefined,
    state: a ? textOf(pick(a, 'state', 'region', 'province', 'county')) : undefined,
    postal_code: a ? textOf(pick(a, 'zip', 'zipCode', 'postalCode', 'postal_code', 'postcode')) : undefined,
    country: a ? textOf(pick(a, 'country', 'countryCode')) : textOf(pick(doc, 'country')),
    signup: readDate(
      pick(doc, 'signupDate', 'signup_at', 'signedUp', 'since', 'createdAt', 'created_at', 'registered'),
      dates,
      line,
    ),
    products: Array.isArray(products) ? products.map(productOf) : [],
    orders: Array.isArray(orders) ? orders.map((o) => orderOf(o, dates, line)) : [],
  };
}
