/**
 * A small seeded PRNG (sfc32, seeded through a string hash), so a fleet run is reproducible from its seed.
 * Streams are forked by label (`fork('vin/traffic')`): each concern draws from its own stream, so drawing
 * more numbers in one (a resend jitter, say) never shifts the values of another (the traffic).
 */
export interface Rng {
  /** uniform in [0, 1) */
  float(): number;
  /** uniform integer in [min, max] (inclusive) */
  int(min: number, max: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** exponential with the given mean */
  exponential(mean: number): number;
  /** log-normal around `median`, spread `sigma` (of the underlying normal) */
  logNormal(median: number, sigma: number): number;
  /** an independent stream derived from this one's seed and `label` (does not advance this stream) */
  fork(label: string): Rng;
}

/** cyrb53-style 128-bit string hash into four 32-bit words (seeds for sfc32). */
function hashSeed(text: string): [number, number, number, number] {
  let h1 = 0x6a09e667 ^ text.length;
  let h2 = 0xbb67ae85 ^ text.length;
  let h3 = 0x3c6ef372;
  let h4 = 0xa54ff53a;
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
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

export function createRng(seed: string | number): Rng {
  const key = String(seed);
  let [a, b, c, d] = hashSeed(key);
  const next = (): number => {
    // sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG), 32-bit state words
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next(); // mix the seed in
  const rng: Rng = {
    float: next,
    int(min, max) {
      if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) throw new RangeError(`int(${min}, ${max}): need integers with min ≤ max`);
      return min + Math.floor(next() * (max - min + 1));
    },
    chance: (probability) => next() < probability,
    pick(items) {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    exponential: (mean) => -Math.log(1 - next()) * mean,
    logNormal(median, sigma) {
      // Box–Muller; 1 − u keeps the logarithm finite
      const u = 1 - next();
      const v = next();
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      return median * Math.exp(sigma * z);
    },
    fork: (label) => createRng(`${key}/${label}`),
  };
  return rng;
}
