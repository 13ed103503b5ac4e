// Exact sampling from the discrete Gaussian N_Z(0, σ²), after Canonne, Kamath & Steinke,
// "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020), Algorithms 1–3.
//
// Why exact: the aggregators add this noise to integer sums (secret-shared or not). A
// floating-point Gaussian rounded to an integer leaks through its rounding pattern and its
// tails (Mironov 2012); rejection sampling on rationals with a cryptographic random source
// draws exactly the distribution the accountant assumes. Every quantity below is a bigint or
// a ratio of bigints; the only randomness is uniform integers below a bound.
//
// Privacy: adding independent N_Z(0, σ²) to each coordinate of an integer query with L2
// sensitivity Δ is (Δ²/2σ²)-zCDP (CKS20, Theorem 14), the same Rényi curve as the
// continuous Gaussian with noise multiplier z = σ/Δ at sampling rate 1, so the project's
// Gaussian accountants account it unchanged at q = 1.

/** A source of uniform integers; the default draws from WebCrypto. */
export interface UniformSource {
  /** a uniform integer in [0, n), n ≥ 1 */
  below(n: bigint): bigint;
}

/** Uniform integers from `crypto.getRandomValues`, buffered, by rejection (no modulo bias). */
export class CryptoUniform implements UniformSource {
  private buffer = new Uint32Array(1024);
  private next = this.buffer.length;

  private word(): number {
    if (this.next === this.buffer.length) {
      crypto.getRandomValues(this.buffer);
      this.next = 0;
    }
    return this.buffer[this.next++];
  }

  below(n: bigint): bigint {
    if (n < 1n) throw new RangeError('below: n must be ≥ 1');
    if (n === 1n) return 0n;
    const bits = (n - 1n).toString(2).length;
    const words = Math.ceil(bits / 32);
    const excess = BigInt(words * 32 - bits);
    for (;;) {
      let x = 0n;
      for (let i = 0; i < words; i++) x = (x << 32n) | BigInt(this.word());
      x >>= excess;
      if (x < n) return x;
    }
  }
}

/** A non-negative rational p/q, q > 0. */
interface Ratio {
  p: bigint;
  q: bigint;
}

function bernoulli(prob: Ratio, rng: UniformSource): boolean {
  return rng.below(prob.q) < prob.p;
}

/** Bernoulli(exp(−γ)) for rational γ ≥ 0 (CKS20 Algorithm 1). */
export function bernoulliExpNeg(gamma: Ratio, rng: UniformSource): boolean {
  let { p, q } = gamma;
  // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−frac γ): one exp(−1) coin per whole unit
  while (p > q) {
    if (!bernoulliExpNegAtMostOne({ p: 1n, q: 1n }, rng)) return false;
    p -= q;
  }
  return bernoulliExpNegAtMostOne({ p, q }, rng);
}

/** Bernoulli(exp(−γ)) for γ in [0, 1]: the parity of the first failure index. */
function bernoulliExpNegAtMostOne(gamma: Ratio, rng: UniformSource): boolean {
  let k = 1n;
  for (;;) {
    if (!bernoulli({ p: gamma.p, q: gamma.q * k }, rng)) return k % 2n === 1n;
    k += 1n;
  }
}

/** Discrete Laplace with scale t (P[x] ∝ exp(−|x|/t)), t a positive integer (Algorithm 2, s = 1). */
export function discreteLaplace(t: bigint, rng: UniformSource): bigint {
  for (;;) {
    const u = rng.below(t);
    if (!bernoulliExpNeg({ p: u, q: t }, rng)) continue;
    let v = 0n;
    while (bernoulliExpNeg({ p: 1n, q: 1n }, rng)) v += 1n;
    const magnitude = u + t * v;
    const negative = rng.below(2n) === 1n;
    if (negative && magnitude === 0n) continue;
    return negative ? -magnitude : magnitude;
  }
}

/**
 * One draw of N_Z(0, σ²) for σ² = sigma2.p / sigma2.q (Algorithm 3): discrete Laplace
 * proposals with t = ⌊σ⌋ + 1, accepted with probability exp(−(|y| − σ²/t)² / 2σ²).
 */
export function discreteGaussian(sigma2: Ratio, rng: UniformSource): bigint {
  const { p: a, q: b } = sigma2;
  const t = isqrt(a / b) + 1n;
  for (;;) {
    const y = discreteLaplace(t, rng);
    const abs = y < 0n ? -y : y;
    // (|y| − a/(b t))² / (2 a/b) = (|y|·b·t − a)² / (2·a·b·t²)
    const d = abs * b * t - a;
    if (bernoulliExpNeg({ p: d * d, q: 2n * a * b * t * t }, rng)) return y;
  }
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n))));
  while (x * x > n) x -= 1n;
  while ((x + 1n) * (x + 1n) <= n) x += 1n;
  return x;
}

/**
 * σ² as an exact ratio from a float σ, rounded UP to `precision` significant binary digits of
 * its denominator, so the noise drawn is never smaller than the noise accounted.
 */
export function varianceRatio(sigma: number, denominator = 1n << 20n): Ratio {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new RangeError(`discrete Gaussian: σ must be positive, got ${sigma}`);
  const scaled = sigma * sigma * Number(denominator);
  return { p: BigInt(Math.ceil(scaled)), q: denominator };
}

/** `length` independent draws of N_Z(0, σ²), as numbers (each |x| ≪ 2^53). */
export function discreteGaussianVector(length: number, sigma: number, rng: UniformSource = new CryptoUniform()): Int32Array | Float64Array {
  const sigma2 = varianceRatio(sigma);
  const out = sigma < 1e8 ? new Int32Array(length) : new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = Number(discreteGaussian(sigma2, rng));
  return out;
}
