/**
 * CPython's `random` module, as far as `random.seed(int)` and `random.sample(range(n), k)` go: the Mersenne Twister
 * MT19937 with Python's seeding (init_by_array over the seed's 32-bit words) and sampling rules. The reference
 * PaDiM implementation draws its random channel subset with `random.seed(1024); random.sample(range(C), d)`;
 * drawing the same way here makes npad's PaDiM keep exactly the reference's channels.
 */

/** A Mersenne Twister seeded as CPython's `random.seed(seed)` for a non-negative integer seed. */
export class PythonRandom {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  /** @param seed a safe integer; its absolute value seeds the generator, as CPython does. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Python random seed must be a safe integer, got ${seed}`);
    let rest = BigInt(Math.abs(seed));
    const key: number[] = [];
    do {
      key.push(Number(rest & 0xffffffffn));
      rest >>= 32n;
    } while (rest > 0n);
    this.initByArray(key);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = 624;
  }

  private initByArray(key: readonly number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(624, key.length); k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1664525)) + key[j]! + j) >>> 0;
      i++;
      j++;
      if (i >= 624) {
        mt[0] = mt[623]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = 623; k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= 624) {
        mt[0] = mt[623]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  /** The next 32-bit output (genrand_uint32). */
  nextUint32(): number {
    const mt = this.mt;
    if (this.index >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % 624]! & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.getrandbits(bits)` for 1 ≤ bits ≤ 32. */
  getrandbits(bits: number): number {
    if (!Number.isInteger(bits) || bits < 1 || bits > 32) throw new RangeError(`getrandbits(${bits}): only 1–32 bits are supported`);
    return this.nextUint32() >>> (32 - bits);
  }

  /** `random._randbelow(n)`: a uniform integer in [0, n) by rejection of getrandbits(n.bit_length()). */
  randbelow(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`randbelow(${n}): n must be an integer in [1, 2^32]`);
    const bits = Math.floor(Math.log2(n)) + 1;
    let r = this.getrandbits(Math.min(bits, 32));
    while (r >= n) r = this.getrandbits(Math.min(bits, 32));
    return r;
  }

  /**
   * `random.sample(range(n), k)`: k distinct integers of [0, n) in draw order, by CPython's rule (a partial
   * shuffle of a pool when the pool is smaller than a set of k, rejection of repeats otherwise).
   */
  sample(n: number, k: number): number[] {
    if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`sample of ${k} from ${n}: k must be an integer in [0, n]`);
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    const result: number[] = [];
    if (n <= setsize) {
      const pool = Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result.push(pool[j]!);
        pool[j] = pool[n - i - 1]!;
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result.push(j);
      }
    }
    return result;
  }
}
