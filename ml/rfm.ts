/**
 * RFM scores and segments (docs/models.md, RFM). Pure: arrays of customers in, scores out.
 *
 * A score is the customer's quintile by rank: at 0-based position i of n it is `1 + floor(5·i/n)`,
 * ties broken by customer id ascending. Recency is ranked descending (the most recent purchase, the
 * fewest days, gets 5); frequency and monetary ascending (the most gets 5).
 */

export interface RfmCustomers {
  /** Customer ids, compared as strings (code-point order) to break ties. */
  ids: readonly string[];
  /** Days from the last purchase to the logical date. */
  recencyDays: Float64Array;
  /** Distinct orders. */
  frequency: Float64Array;
  /** Net revenue. */
  monetary: Float64Array;
}

export interface RfmScores {
  r: Uint8Array;
  f: Uint8Array;
  m: Uint8Array;
}

export const RFM_SEGMENTS = [
  'Champions',
  'Loyal Customers',
  'Potential Loyalists',
  'New Customers',
  'Promising',
  'Need Attention',
  'About to Sleep',
  "Can't Lose",
  'At Risk',
  'Hibernating',
] as const;

export type RfmSegment = (typeof RFM_SEGMENTS)[number];

/** What the shop should do with each segment, shown wherever segments are. */
export const SEGMENT_ACTIONS: Record<RfmSegment, string> = {
  Champions: 'Reward them: early access, loyalty perks, ask for reviews; no discounts needed.',
  'Loyal Customers': 'Upsell higher-value products and invite them to the loyalty programme.',
  'Potential Loyalists': 'Offer membership or a loyalty programme; recommend related products.',
  'New Customers': 'Onboard them well: a welcome series and support for their first weeks.',
  Promising: 'Build the relationship: a free-shipping offer or a small incentive for a second order.',
  'Need Attention': 'Reactivate with a limited-time offer based on what they bought.',
  'About to Sleep': 'Share popular products and a time-limited discount before they lapse.',
  "Can't Lose": 'Win them back personally: a personal offer or call; do not lose them to a competitor.',
  'At Risk': 'Send personalised e-mails with renewals and helpful resources to reconnect.',
  Hibernating: 'Offer other relevant products and special discounts; otherwise do not overspend.',
};

/** The segment of an R and an F score, by the table in docs/models.md. */
export function rfmSegment(r: number, f: number): RfmSegment {
  if (r <= 2) return f <= 2 ? 'Hibernating' : f <= 4 ? 'At Risk' : "Can't Lose";
  if (r === 3) return f <= 2 ? 'About to Sleep' : f === 3 ? 'Need Attention' : 'Loyal Customers';
  if (f === 1) return r === 4 ? 'Promising' : 'New Customers';
  if (f <= 3) return 'Potential Loyalists';
  return r === 4 ? 'Loyal Customers' : 'Champions';
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** 1–5 by rank of `values` (ascending, or descending), ties by id ascending. */
export function rankScores(values: Float64Array, ids: readonly string[], descending: boolean): Uint8Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => {
    const byValue = descending ? values[j] - values[i] : values[i] - values[j];
    return byValue !== 0 ? byValue : compareIds(ids[i], ids[j]);
  });
  const scores = new Uint8Array(n);
  order.forEach((customer, position) => {
    scores[customer] = 1 + Math.floor((5 * position) / n);
  });
  return scores;
}

export function scoreRfm(customers: RfmCustomers): RfmScores {
  const n = customers.ids.length;
  if (
    customers.recencyDays.length !== n ||
    customers.frequency.length !== n ||
    customers.monetary.length !== n
  )
    throw new RangeError('RFM: ids, recency, frequency and monetary must have one entry per customer');
  return {
    r: rankScores(customers.recencyDays, customers.ids, true),
    f: rankScores(customers.frequency, customers.ids, false),
    m: rankScores(customers.monetary, customers.ids, false),
  };
}
