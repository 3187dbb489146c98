/**
 * A small seeded pseudo-random generator for the models, so that a fit is the same for the same seed on
 * every machine: xoshiro128** (Blackman & Vigna), its 128-bit state filled from the seed by splitmix32.
 * One seed gives independent streams (one per k-means restart, say). Not for anything secret.
 */
export class SeededRandom {
  private readonly state: Uint32Array;

  /** `seed` is any integer (it is taken modulo 2³²); `stream` gives independent sequences from one seed. */
  constructor(seed: number, stream = 0) {
    if (!Number.isInteger(seed) || !Number.isInteger(stream)) {
      throw new Error(`SeededRandom needs integer seed and stream, got seed ${seed} and stream ${stream}`);
    }
    let mix = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    this.state = new Uint32Array(4);
    for (let i = 0; i < 4; i += 1) {
      mix = (mix + 0x9e3779b9) >>> 0;
      let z = mix;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.state[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.state.every((word) => word === 0)) this.state[0] = 1;
  }

  /** The next 32 random bits as an unsigned integer. */
  uint32(): number {
    const s = this.state;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform number in [0, 1) with 53 random bits. */
  next(): number {
    const high = this.uint32() >>> 5;
    const low = this.uint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** A uniform integer in [0, bound). */
  below(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  /** A standard normal draw (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** `count` distinct indices of [0, n), in random order (a partial Fisher–Yates shuffle). */
  sampleIndices(n: number, count: number): Int32Array {
    if (!Number.isInteger(count) || count < 0 || count > n) {
      throw new Error(`cannot sample ${count} distinct indices out of ${n}`);
    }
    const pool = new Int32Array(n);
    for (let i = 0; i < n; i += 1) pool[i] = i;
    for (let i = 0; i < count; i += 1) {
      const j = i + this.below(n - i);
      const swap = pool[i];
      pool[i] = pool[j];
      pool[j] = swap;
    }
    return pool.slice(0, count);
  }
}

function rotl(x: number, bits: number): number {
  return ((x << bits) | (x >>> (32 - bits))) >>> 0;
}
