/**
 * A small seeded random number generator (mulberry32) and the draws that
 * shuffling and augmentation need, so that a seed gives the same batches and
 * augmented pictures on every run (other numbers than NumPy's, with the same
 * distributions).
 *
 * @module
 */

/** Mix two integers into a well-spread 32-bit seed (for "seed + epoch" style seeds). */
export function mixSeed(seed: number, salt: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul((salt | 0) + 0x632be5ab, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Refuse a seed that is not a whole number from 0 to 2³² − 1 (NumPy's range), naming it. */
export function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new RangeError(
      `seed must be a whole number from 0 to 2^32 - 1 (4294967295), as NumPy's, got ${seed}` +
        (Number.isInteger(seed) && seed > 0xffff_ffff ? `; e.g. ${seed} % 2 ** 32` : ""),
    );
  }
}

/** A seed from `Math.random`, for when the user gives none. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
}

/** Seeded generator of uniform numbers (mulberry32: 32-bit state, period 2^32; not for cryptography). */
export class Random {
  #state: number;

  /** A generator started from `seed` (any integer; the same seed gives the same sequence). */
  constructor(seed: number = randomSeed()) {
    this.#state = seed >>> 0;
  }

  /** The generator's whole state (one 32-bit integer), to continue the same sequence with {@link Random.setState}. */
  getState(): number {
    return this.#state;
  }

  /** Continue from a state returned by {@link Random.getState}. */
  setState(state: number): void {
    if (!Number.isInteger(state) || state < 0 || state > 0xffff_ffff) {
      throw new RangeError(`a Random state is a whole number in [0, 2^32), got ${JSON.stringify(state)}`);
    }
    this.#state = state >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A uniform number in [lo, hi) (NumPy's `uniform(lo, hi)`). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** The numbers 0..n-1 in random order (Fisher–Yates; NumPy's `permutation(n)`). */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }
}
