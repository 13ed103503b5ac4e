import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../models/metrics.ts';
import { RunningSum, sumOfSquares } from '../../server/running-sum.ts';
import { SimdInt8Sum } from '../../server/simd-sum.ts';
import { quantizedView } from '../../server/summary-view.ts';
import { encodeSummary } from '../../federated/summary.ts';

function randomInts(n: number, seed: number, offset: number): Int8Array {
  const rnd = mulberry32(seed);
  const buf = new ArrayBuffer(n + offset);
  const a = new Int8Array(buf, offset, n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(rnd() * 255) - 127;
  return a;
}

describe('RunningSum', () => {
  it('runs 8-bit sums in WebAssembly SIMD here, with the same results as the JS loop', () => {
    const n = 4099; // 256 blocks of 16 and a tail of 3
    const x = randomInts(n, 9, 24);
    const simd = SimdInt8Sum.create(n);
    expect(simd).not.toBeNull(); // Node ≥ 16 has SIMD; the fallback would hide a broken module
    const js = new RunningSum(1, 1, n, 100, 16); // 16-bit round: the JS loop
    for (let k = 0; k < 3; k++) expect(simd!.add(x)).toBe(js.add(x));
    expect(Array.from(simd!.sum)).toEqual(Array.from(js.sum));
    // extremes: −127·k and 127·k, squares summed exactly
    const ext = new Int8Array(64).map((_, i) => (i % 2 ? 127 : -127));
    const s2 = SimdInt8Sum.create(64)!;
    expect(s2.add(ext)).toBe(64 * 127 * 127);
    expect(s2.sum[0]).toBe(-127);
    expect(s2.sum[1]).toBe(127);
  });

  // offsets 24 (aligned: word path) and 3 (unaligned: byte path); lengths with and without a tail
  for (const [n, offset, simd] of [[1001, 24, true], [1000, 24, false], [1001, 24, false], [1003, 3, false], [1003, 3, true], [7, 0, true]] as const) {
    it(`sums 8-bit values exactly and returns Σq² (n=${n}, byte offset ${offset}, ${simd ? 'SIMD' : 'JS'})`, () => {
      const xs = [1, 2, 3].map((s) => randomInts(n, s, offset));
      const rs = new RunningSum(1, 10, n, 100, 8, simd);
      const expected = new Float64Array(n);
      for (const [k, x] of xs.entries()) {
        let sq = 0;
        for (let i = 0; i < n; i++) {
          expected[i] += x[i];
          sq += x[i] * x[i];
        }
        expect(rs.add(x)).toBe(sq);
        expect(sumOfSquares(x)).toBe(sq);
        if (k === 1) rs.undo(x); // rejected: subtracted exactly
        else rs.commit(k === 0);
      }
      for (let i = 0; i < n; i++) expected[i] -= xs[1][i];
      expect(Array.from(rs.sum)).toEqual(Array.from(expected));
      expect([rs.count, rs.withinClip]).toEqual([2, 1]);
    });
  }

  it('uses a float64 sum when int32 could overflow, and drained() waits for pending uploads', async () => {
    const rs = new RunningSum(1, 1, 4, 70_000, 16);
    expect(rs.sum).toBeInstanceOf(Float64Array);
    rs.add(new Int16Array([32767, -32767, 1, 0]));
    let drained = false;
    const wait = rs.drained().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    rs.commit(true);
    await wait;
    expect(Array.from(rs.sum)).toEqual([32767, -32767, 1, 0]);
  });
});

describe('quantizedView', () => {
  it('reads 16- and 32-bit values the same from aligned and unaligned bodies, without copying when aligned', () => {
    for (const bits of [16, 32] as const) {
      const values = bits === 16 ? new Int16Array([1, -2, 32767, -32767, 5]) : new Int32Array([1, -2, 2 ** 30, -(2 ** 30), 5]);
      const body = encodeSummary({ withinClip: true, roundId: 3, modelVersion: 2, scale: 10 }, values);
      const aligned = quantizedView(body);
      expect(aligned.ints.buffer).toBe(body.buffer); // a view, no copy
      const shifted = new Uint8Array(body.length + 1).subarray(1);
      shifted.set(body);
      const unaligned = quantizedView(shifted);
      expect(Array.from(unaligned.ints)).toEqual(Array.from(values));
      expect(Array.from(aligned.ints)).toEqual(Array.from(values));
      expect([unaligned.roundId, unaligned.modelVersion, unaligned.bits, unaligned.withinClip]).toEqual([3, 2, bits, true]);
    }
  });
});
