/**
 * The demo storefront's room: a realistic, deterministic history of a small web shop (customers,
 * catalogue, orders, payments and the site's click stream) for a seed, and the loader that writes
 * it into the shop database.
 */
export {
  DEFAULT_END_DATE,
  parseIsoDate,
  seasonality,
  simulationPeriod,
  WEEKDAY_FACTORS,
  yearlyFactor,
} from './calendar';
export type { SimulationPeriod } from './calendar';
export { CATEGORIES, MIN_PRODUCTS, POPULARITY_EXPONENT, productCountFor } from './catalog';
export { DIRT_RATES } from './dirt';
export type { DirtCounts, DirtKind } from './dirt';
export { ShopHistory } from './history';
export type { DayActivity, HistoryOptions } from './history';
export { Random, WeightedTable, shuffledIndices, zipfWeights } from './random';
export type * from './rows';
export { ShopNotEmptyError, simulateShop } from './load';
export type { SimulateOptions, SimulateSummary } from './load';
export { shopFingerprint } from './fingerprint';
export type { ShopFingerprint } from './fingerprint';
