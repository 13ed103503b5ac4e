import { describe, expect, it } from 'vitest';
import {
  clipInPlace, decodeHeader, decodeSummary, defaultScale, dequantize, encodeSummary, flattenWeights, HEADER_BYTES,
  decodedNorm, l2Norm, quantizeWithinClip, roundedNormBound, stochasticQuantize, summariseDelta, SummaryFormatError, unflattenWeights,
} from '../../federated/summary.ts';
import { mulberry32 } from '../../models/metrics.ts';

function randomVector(n: number, seed: number, amplitude = 1): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * amplitude);
}

describe('update summary', () => {
  it('clipping bounds the L2 norm and leaves small vectors untouched', () => {
    const big = randomVector(1000, 1, 5);
    const before = clipInPlace(big, 0.5);
    expect(before).toBeGreaterThan(0.5);
    expect(l2Norm(big)).toBeLessThanOrEqual(0.5);
    expect(l2Norm(big)).toBeGreaterThan(0.4999);
    const small = randomVector(10, 2, 0.001);
    const copy = small.slice();
    clipInPlace(small, 0.5);
    expect(Array.from(small)).toEqual(Array.from(copy));
  });

  it('stochastic rounding is unbiased', () => {
    const x = new Float32Array(20000).fill(0.3);
    const q = stochasticQuantize(x, 1, 16, mulberry32(3));
    const mean = Array.from(q).reduce((s, v) => s + v, 0) / q.length;
    expect(mean).toBeGreaterThan(0.28);
    expect(mean).toBeLessThan(0.32);
    expect(new Set(q)).toEqual(new Set([0, 1])); // only the two neighbouring grid points
  });

  it('saturates instead of wrapping around', () => {
    const q = stochasticQuantize(Float32Array.of(1e9, -1e9), 1, 8, Math.random);
    expect(Array.from(q)).toEqual([127, -127]);
  });

  for (const bits of [8, 16, 32] as const) {
    it(`encode/decode round trip (${bits}-bit)`, () => {
      const v = randomVector(333, 4, 0.05);
      clipInPlace(v, 1);
      const scale = defaultScale(1, bits);
      const ints = stochasticQuantize(v, scale, bits, mulberry32(5));
      const bytes = encodeSummary({ withinClip: true, roundId: 7, modelVersion: 3, scale }, ints);
      expect(bytes.length).toBe(HEADER_BYTES + (333 * bits) / 8);
      const back = decodeSummary(bytes);
      expect(back).toMatchObject({ roundId: 7, modelVersion: 3, length: 333, bits, withinClip: true, protocolVersion: 1 });
      expect(Array.from(back.ints)).toEqual(Array.from(ints));
      const deq = dequantize(back);
      for (let i = 0; i < v.length; i++) expect(Math.abs(deq[i] - v[i])).toBeLessThanOrEqual(1 / scale + 1e-9);
    });
  }

  it('rejects truncated, padded and foreign input', () => {
    const ints = stochasticQuantize(randomVector(100, 6, 0.01), 1000, 16, Math.random);
    const bytes = encodeSummary({ withinClip: false, roundId: 1, modelVersion: 1, scale: 1000 }, ints);
    expect(() => decodeHeader(bytes.slice(0, bytes.length - 1))).toThrow(SummaryFormatError);
    expect(() => decodeHeader(bytes.slice(0, 10))).toThrow(SummaryFormatError);
    const padded = new Uint8Array(bytes.length + 2);
    padded.set(bytes);
    expect(() => decodeHeader(padded)).toThrow(SummaryFormatError);
    const foreign = bytes.slice();
    foreign[0] = 0;
    expect(() => decodeHeader(foreign)).toThrow(/magic/);
    const future = bytes.slice();
    future[4] = 9;
    expect(() => decodeHeader(future)).toThrow(/version/);
  });

  it('summariseDelta clips before quantising and reports the clip bit', () => {
    const delta = randomVector(5000, 8, 1);
    const { bytes, normBeforeClip } = summariseDelta(delta, {
      roundId: 2, modelVersion: 5, clipNorm: 2, clientNoiseStd: 0, bits: 16, scale: defaultScale(2, 16), random: mulberry32(9),
    });
    expect(normBeforeClip).toBeGreaterThan(2);
    const decoded = decodeSummary(bytes);
    expect(decoded.withinClip).toBe(false);
    expect(l2Norm(dequantize(decoded))).toBeLessThan(2.01);
  });

  it('flatten/unflatten preserve order', () => {
    const parts = [Float32Array.of(1, 2), Float32Array.of(3), Float32Array.of(4, 5, 6)];
    const flat = flattenWeights(parts);
    expect(Array.from(flat)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(unflattenWeights(flat, parts).map((p) => Array.from(p))).toEqual([[1, 2], [3], [4, 5, 6]]);
  });

  it('a vector clipped to exactly C rounds above C, and quantizeWithinClip lands within C with the shrink the server would apply', () => {
    const n = 20_000;
    const clip = 0.3;
    const scale = defaultScale(clip, 8, 0.25);
    const v = randomVector(n, 7);
    clipInPlace(v, clip);
    const plain = decodedNorm(stochasticQuantize(v, scale, 8, mulberry32(1)), scale);
    expect(plain).toBeGreaterThan(clip);
    expect(plain).toBeLessThan(roundedNormBound(clip, scale, n));
    const w = Float32Array.from(v);
    const q = quantizeWithinClip(w, scale, 8, clip, mulberry32(2));
    expect(decodedNorm(q, scale)).toBeLessThanOrEqual(clip);
    // the direction is kept and the shrink is a few percent
    let dot = 0;
    for (let i = 0; i < n; i++) dot += (q[i] / scale) * v[i];
    expect(dot / (decodedNorm(q, scale) * l2Norm(v))).toBeGreaterThan(0.9);
    expect(l2Norm(w)).toBeGreaterThan(0.85 * clip);
  });

  it('summariseDelta keeps an upload without client noise within C', () => {
    const n = 20_000;
    const clip = 0.3;
    const scale = defaultScale(clip, 8, 0.25);
    const normBound = roundedNormBound(clip, scale, n);
    for (let seed = 0; seed < 5; seed++) {
      const { bytes } = summariseDelta(randomVector(n, 9 + seed, 5), { roundId: 1, modelVersion: 1, clipNorm: clip, bits: 8, scale, normBound, clientNoiseStd: 0, random: mulberry32(seed) });
      const s = decodeSummary(bytes);
      expect(decodedNorm(s.ints, s.scale)).toBeLessThanOrEqual(clip);
    }
  });
});
