import assert from 'node:assert/strict';
import { test } from 'node:test';
import { float16BitsToFloat32, float32ToFloat16Bits, toFloat32 } from '../../src/tensorfile/safetensors.js';

/** Bits of one float32 value converted to half. */
function toHalf(x: number): number {
  return float32ToFloat16Bits(new Float32Array([x]))[0] ?? -1;
}

/** The float32 value of one half bit pattern. */
function fromHalf(bits: number): number {
  return float16BitsToFloat32(new Uint16Array([bits]))[0] ?? Number.NaN;
}

test('float32 → float16: hand values', () => {
  const cases: Array<[number, number]> = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0, 0x0000],
    [-0, 0x8000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite half
    [65519.99, 0x7bff], // below the midpoint to 65536: stays finite
    [65520, 0x7c00], // midpoint between 65504 (odd) and 65536 (even): ties to even = inf
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [6.103515625e-5, 0x0400], // 2^-14, smallest normal half
    [6.1035e-5, 0x0400], // just below 2^-14: rounds up across the subnormal edge
    [6.097555160522461e-5, 0x03ff], // largest subnormal half
    [5.960464477539063e-8, 0x0001], // 2^-24, smallest subnormal half
    [2 ** -25, 0x0000], // exactly half of the smallest subnormal: ties to even = 0
    [-(2 ** -25), 0x8000],
    [2 ** -25 * 1.0000001, 0x0001], // just above the tie: rounds up
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units: even = 2
    [1e-10, 0x0000],
    [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 (even) and 0x3c01
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02 (even)
    [2049, 0x6800], // tie between 2048 (even) and 2050
    [2051, 0x6802], // tie between 2050 and 2052 (even)
    [0.1, 0x2e66],
  ];
  for (const [x, bits] of cases) {
    assert.equal(toHalf(x), bits, `${x} → 0x${bits.toString(16)}, got 0x${toHalf(x).toString(16)}`);
  }
  const nan = toHalf(Number.NaN);
  assert.equal(nan & 0x7c00, 0x7c00, 'NaN keeps an all-ones exponent');
  assert.notEqual(nan & 0x03ff, 0, 'NaN keeps a non-zero mantissa');
});

test('float16 → float32: hand values', () => {
  const cases: Array<[number, number]> = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0400, 2 ** -14],
    [0x03ff, 1023 * 2 ** -24],
    [0x0001, 2 ** -24],
    [0x3555, 0.333251953125],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ];
  for (const [bits, x] of cases) assert.equal(fromHalf(bits), x, `0x${bits.toString(16)}`);
  assert.ok(Object.is(fromHalf(0x8000), -0));
  assert.ok(Number.isNaN(fromHalf(0x7e00)));
  assert.ok(Number.isNaN(fromHalf(0xfc01)));
});

test('every half value survives half → float → half', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const back = float32ToFloat16Bits(float16BitsToFloat32(all));
  for (let h = 0; h < 65536; h++) {
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) assert.ok(((back[h] ?? 0) & 0x7c00) === 0x7c00 && ((back[h] ?? 0) & 0x3ff) !== 0);
    else if (back[h] !== h) assert.fail(`0x${h.toString(16)} came back as 0x${(back[h] ?? 0).toString(16)}`);
  }
});

test('float32 → float16 matches a brute-force nearest-even search on random values', () => {
  // All finite non-negative halves, ascending by value (their bit order).
  const finite = float16BitsToFloat32(new Uint16Array(0x7c00).map((_, i) => i));
  let seed = 12345;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const xs = new Float32Array(20000).map(() => Math.fround(2 ** (random() * 42 - 26) * (random() * 2 - 1)));
  const got = float32ToFloat16Bits(xs);
  xs.forEach((x, i) => {
    const a = Math.abs(x);
    let lo = 0;
    let hi = finite.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if ((finite[mid] ?? 0) <= a) lo = mid;
      else hi = mid;
    }
    let want: number;
    if (a >= 65520) want = 0x7c00;
    else {
      const dLo = a - (finite[lo] ?? 0);
      const dHi = (finite[hi] ?? 0) - a;
      want = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
      if (a < (finite[lo] ?? 0)) want = lo;
    }
    const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
    assert.equal(got[i], sign | want, `x=${x}`);
  });
});

test('bfloat16 → float32 is exact, subnormals and specials included', () => {
  const bits = new Uint16Array([0x3f80, 0xc000, 0x7f80, 0xff80, 0x0001, 0x8000, 0x7fc0]);
  const out = toFloat32({ dtype: 'BF16', shape: [bits.length], data: new Uint8Array(bits.buffer) });
  assert.equal(out[0], 1);
  assert.equal(out[1], -2);
  assert.equal(out[2], Infinity);
  assert.equal(out[3], -Infinity);
  assert.equal(out[4], 2 ** -133);
  assert.ok(Object.is(out[5], -0));
  assert.ok(Number.isNaN(out[6]));
});
