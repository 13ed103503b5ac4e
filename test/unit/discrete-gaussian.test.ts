import { describe, expect, it } from 'vitest';
import {
  bernoulliExpNeg,
  CryptoUniform,
  discreteGaussian,
  discreteGaussianVector,
  discreteLaplace,
  type UniformSource,
  varianceRatio,
} from '../../federated/dp/discrete-gaussian.ts';

/** A seeded source (xorshift128+ words, rejection as in CryptoUniform), for repeatable statistics. */
class SeededUniform implements UniformSource {
  private s0 = 0x9e3779b97f4a7c15n;
  private s1: bigint;
  constructor(seed: number) {
    this.s1 = BigInt(seed) | 1n;
  }
  private word(): bigint {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= (x << 23n) & 0xffffffffffffffffn;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return ((this.s1 + y) & 0xffffffffffffffffn) >> 32n;
  }
  below(n: bigint): bigint {
    if (n === 1n) return 0n;
    const bits = (n - 1n).toString(2).length;
    const words = Math.ceil(bits / 32);
    const excess = BigInt(words * 32 - bits);
    for (;;) {
      let x = 0n;
      for (let i = 0; i < words; i++) x = (x << 32n) | this.word();
      x >>= excess;
      if (x < n) return x;
    }
  }
}

/** The exact pmf of N_Z(0, σ²) on [−L, L] (the mass outside is negligible for L = 12σ + 5). */
function exactPmf(sigma: number): Map<number, number> {
  const L = Math.ceil(12 * sigma) + 5;
  const weights = new Map<number, number>();
  let total = 0;
  for (let x = -L; x <= L; x++) {
    const w = Math.exp((-x * x) / (2 * sigma * sigma));
    weights.set(x, w);
    total += w;
  }
  for (const [x, w] of weights) weights.set(x, w / total);
  return weights;
}

/** Pearson χ² of samples against a pmf, pooling cells with expected count < 5; returns [χ², degrees of freedom]. */
function chiSquare(samples: number[], pmf: Map<number, number>): [number, number] {
  const counts = new Map<number, number>();
  for (const s of samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  let chi = 0;
  let cells = 0;
  let pooledExpected = 0;
  let pooledObserved = 0;
  for (const [x, p] of pmf) {
    const expected = p * samples.length;
    const observed = counts.get(x) ?? 0;
    if (expected < 5) {
      pooledExpected += expected;
      pooledObserved += observed;
      continue;
    }
    chi += (observed - expected) ** 2 / expected;
    cells++;
  }
  if (pooledExpected > 0) {
    chi += (pooledObserved - pooledExpected) ** 2 / pooledExpected;
    cells++;
  }
  return [chi, cells - 1];
}

describe('discrete Gaussian (Canonne, Kamath & Steinke 2020)', () => {
  it('Bernoulli(exp(−γ)) has the right frequency below and above γ = 1', () => {
    const rng = new SeededUniform(1);
    for (const [p, q] of [[1n, 2n], [23n, 10n], [0n, 1n], [3n, 1n]] as const) {
      const n = 40_000;
      let hits = 0;
      for (let i = 0; i < n; i++) if (bernoulliExpNeg({ p, q }, rng)) hits++;
      const expected = Math.exp(-Number(p) / Number(q));
      const sd = Math.sqrt((expected * (1 - expected)) / n);
      expect(Math.abs(hits / n - expected)).toBeLessThanOrEqual(4 * sd + 1e-12);
    }
  });

  it('discrete Laplace is symmetric with P[0] = (1 − e^{−1/t}) / (1 + e^{−1/t})', () => {
    const rng = new SeededUniform(2);
    const n = 40_000;
    const t = 3n;
    let zeros = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const x = Number(discreteLaplace(t, rng));
      if (x === 0) zeros++;
      sum += x;
    }
    const e = Math.exp(-1 / 3);
    const p0 = (1 - e) / (1 + e);
    expect(Math.abs(zeros / n - p0)).toBeLessThan(4 * Math.sqrt((p0 * (1 - p0)) / n));
    expect(Math.abs(sum / n)).toBeLessThan(0.1);
  });

  for (const sigma of [0.7, 3, 11.5]) {
    it(`N_Z(0, ${sigma}²) matches the exact pmf (χ² test) and its variance`, () => {
      const rng = new SeededUniform(Math.round(sigma * 1000));
      const sigma2 = varianceRatio(sigma);
      const samples = Array.from({ length: 30_000 }, () => Number(discreteGaussian(sigma2, rng)));
      const pmf = exactPmf(sigma);
      const [chi, dof] = chiSquare(samples, pmf);
      // the 99.9% quantile of χ²_k is below k + 4.5·√(2k) + 10 for these k
      expect(chi).toBeLessThan(dof + 4.5 * Math.sqrt(2 * dof) + 10);
      let variance = 0;
      for (const [x, p] of pmf) variance += p * x * x;
      const empirical = samples.reduce((s, x) => s + x * x, 0) / samples.length;
      // the sample variance's sd is about σ²·√(2/n)
      expect(Math.abs(empirical - variance)).toBeLessThan(5 * variance * Math.sqrt(2 / samples.length) + 0.01);
    });
  }

  it('rounds σ² up, so the noise drawn is never below the noise accounted', () => {
    for (const sigma of [0.3, 1, 4.05, 1234.5678]) {
      const { p, q } = varianceRatio(sigma);
      expect(Number(p) / Number(q)).toBeGreaterThanOrEqual(sigma * sigma);
      expect(Number(p) / Number(q) - sigma * sigma).toBeLessThan(1e-6 * Math.max(1, sigma * sigma));
    }
    expect(() => varianceRatio(0)).toThrow(/σ must be positive/);
    expect(() => varianceRatio(Number.NaN)).toThrow(/σ must be positive/);
  });

  it('draws a vector from WebCrypto with the requested spread', () => {
    const v = discreteGaussianVector(20_000, 8, new CryptoUniform());
    expect(v.length).toBe(20_000);
    let s = 0;
    let s2 = 0;
    for (const x of v) {
      expect(Number.isInteger(x)).toBe(true);
      s += x;
      s2 += x * x;
    }
    expect(Math.abs(s / v.length)).toBeLessThan(0.4);
    expect(Math.abs(s2 / v.length - 64)).toBeLessThan(5 * 64 * Math.sqrt(2 / v.length));
  });

  it('CryptoUniform is uniform below a bound that is not a power of two', () => {
    const rng = new CryptoUniform();
    const counts = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 60_000; i++) counts[Number(rng.below(6n))]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => rng.below(0n)).toThrow(RangeError);
  });
});
