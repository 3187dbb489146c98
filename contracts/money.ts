/**
 * Money as people read it: rounded to the currency's minor unit (2 decimals unless told otherwise),
 * with thousands separators. Sums in the warehouse are exact numerics with many decimals (a unit
 * price of amount ÷ quantity has 16); only their display is rounded.
 */
export function formatMoney(amount: string | number, decimals = 2): string {
  const value = typeof amount === 'number' ? amount : Number(amount);
  if (!Number.isFinite(value)) return String(amount);
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** A share (0.1667) as a percentage with two decimals (16.67%). */
export function formatShare(share: number): string {
  return `${(share * 100).toFixed(2)}%`;
}
