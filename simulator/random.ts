/**
 * A small seeded PRNG (sfc32) with the draws the simulator needs. Every random choice in the simulated
 * history comes from one of these, never from Math.random, so a seed always gives the same shop.
 *
 * Streams are derived by label (`Random.derive(seed, 'day', 17)`), so each customer, product and day
 * has its own independent sequence: a table generated in a later pass sees exactly the draws an
 * earlier pass saw, without any shared state between them.
 */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  private constructor(words: readonly [number, number, number, number]) {
    [this.a, this.b, this.c, this.d] = words;
    // sfc32's first outputs are still close to the seed words; the authors suggest discarding a few.
    for (let i = 0; i < 15; i++) this.uint32();
  }

  /** A stream for this seed and these labels; the same arguments always give the same stream. */
  static derive(seed: number, ...labels: readonly (string | number)[]): Random {
    return new Random(cyrb128(`${seed}\u0000${labels.join('\u0000')}`));
  }

  /** The next 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform in [min, max). */
  between(min: number, max: number): number {
    return min + (max - min) * this.float();
  }

  /** Uniform integer in [min, max], both ends included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)];
  }

  /** Standard normal, by Box-Muller (one of the pair is dropped: simpler, and speed is not an issue here). */
  normal(): number {
    const u = 1 - this.float(); // in (0, 1], so the logarithm stays finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }

  /** Log-normal with the given median; `sigma` is the spread of its logarithm. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  /** Poisson counts: inverse transform for small means, the normal approximation for large ones. */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    const limit = Math.exp(-mean);
    let count = 0;
    let product = this.float();
    while (product > limit) {
      count++;
      product *= this.float();
    }
    return count;
  }

  /** A version-4 UUID string made of PRNG bits: unique enough for keys, and reproducible. */
  uuid(): string {
    const first = this.uint32();
    const second = ((this.uint32() & 0xffff0fff) | 0x00004000) >>> 0; // version nibble 4
    const third = ((this.uint32() & 0x3fffffff) | 0x80000000) >>> 0; // RFC 4122 variant bits 10
    const fourth = this.uint32();
    return `${hex8(first)}-${hex4(second >>> 16)}-${hex4(second)}-${hex4(third >>> 16)}-${hex4(third)}${hex8(fourth)}`;
  }
}

/** Two hex digits per byte value: building a UUID from table lookups is several times faster than toString(16). */
const HEX_BYTES = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

function hex4(value: number): string {
  return HEX_BYTES[(value >>> 8) & 0xff] + HEX_BYTES[value & 0xff];
}

function hex8(value: number): string {
  return hex4(value >>> 16) + hex4(value);
}

/** cyrb128: a fast string hash with four 32-bit outputs, enough to seed sfc32's whole state. */
function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/**
 * Draws an index by weight in O(log n): built once from the weights, sampled many times. Used for
 * product popularity, categories, hours of the day and anything else with a fixed distribution.
 */
export class WeightedTable {
  private readonly cumulative: Float64Array;

  constructor(weights: ArrayLike<number>) {
    if (weights.length === 0) throw new Error('A weighted table needs at least one weight.');
    this.cumulative = new Float64Array(weights.length);
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      if (!(weights[i] >= 0))
        throw new Error(`Weight ${i} is ${weights[i]}; weights must be finite and >= 0.`);
      total += weights[i];
      this.cumulative[i] = total;
    }
    if (total <= 0) throw new Error('A weighted table needs a positive total weight.');
  }

  get size(): number {
    return this.cumulative.length;
  }

  /** The index whose share of the total weight covers `fraction` (in [0, 1)). */
  at(fraction: number): number {
    const target = fraction * this.cumulative[this.cumulative.length - 1];
    let low = 0;
    let high = this.cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.cumulative[middle] > target) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  sample(random: Random): number {
    return this.at(random.float());
  }

  /**
   * The continuous inverse of the cumulative weights: the index `at(fraction)` plus how far into that
   * index's share `fraction` falls (e.g. 12.25 is a quarter into item 12). Monotone in `fraction`.
   */
  position(fraction: number): number {
    const index = this.at(fraction);
    const end = this.cumulative[index];
    const start = index === 0 ? 0 : this.cumulative[index - 1];
    const target = fraction * this.cumulative[this.cumulative.length - 1];
    return index + Math.min(Math.max((target - start) / (end - start), 0), 0.999999);
  }
}

/** Zipf weights 1/rank^exponent for ranks 1..count: a few items get most of the attention, most get little. */
export function zipfWeights(count: number, exponent: number): Float64Array {
  const weights = new Float64Array(count);
  for (let rank = 1; rank <= count; rank++) weights[rank - 1] = 1 / Math.pow(rank, exponent);
  return weights;
}

/** A Fisher-Yates shuffle of 0..count-1: e.g. which product gets which popularity rank. */
export function shuffledIndices(random: Random, count: number): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random.float() * (i + 1));
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  return order;
}
