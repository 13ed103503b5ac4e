/**
 * Polynomials over an NTT-friendly field, in the two bases the FLP uses: monomial
 * (coefficients) and Lagrange (values at the first n powers of the principal n-th root of
 * unity). Every function returns the same values as the draft's reference algorithms; the
 * evaluation and extension use closed forms that are linear rather than quadratic in n.
 */
import { type Field, log2Exact } from './field.ts';

/** In-place iterative radix-2 transform of `a` (length n) with the given root powers. */
function transform(f: Field, a: bigint[], roots: readonly bigint[]): void {
  const n = a.length;
  const p = f.modulus;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const stride = n / len;
    for (let start = 0; start < n; start += len) {
      for (let k = 0; k < half; k++) {
        const u = a[start + k];
        const v = (a[start + k + half] * roots[k * stride]) % p;
        const s = u + v;
        a[start + k] = s >= p ? s - p : s;
        const d = u - v;
        a[start + k + half] = d < 0n ? d + p : d;
      }
    }
  }
}

/**
 * Evaluations of the polynomial with coefficients `coeffs` (length ≤ n) at w**i, or at
 * s * w**i when `onCoset` (s the principal 2n-th root), for i < n.
 */
export function ntt(f: Field, coeffs: readonly bigint[], n: number, onCoset = false): bigint[] {
  log2Exact(n);
  if (coeffs.length > n) throw new Error('ntt: more coefficients than points');
  const a = f.zeros(n);
  if (onCoset) {
    const shifts = f.nthRootPowers(2 * n);
    for (let i = 0; i < coeffs.length; i++) a[i] = (coeffs[i] * shifts[i]) % f.modulus;
  } else {
    for (let i = 0; i < coeffs.length; i++) a[i] = coeffs[i];
  }
  transform(f, a, f.nthRootPowers(n));
  return a;
}

/** Coefficients of the polynomial whose values at the first n powers of w are `values`. */
export function invNtt(f: Field, values: readonly bigint[], n: number): bigint[] {
  if (values.length !== n) throw new Error('invNtt: need exactly n values');
  const a = values.slice();
  transform(f, a, f.inverseNthRootPowers(n));
  const nInv = f.invSmall(n);
  for (let i = 0; i < n; i++) a[i] = (a[i] * nInv) % f.modulus;
  return a;
}

/** Horner evaluation of a monomial-basis polynomial. */
export function polyEvalMonomial(f: Field, coeffs: readonly bigint[], x: bigint): bigint {
  let acc = 0n;
  for (let i = coeffs.length - 1; i >= 0; i--) acc = (acc * x + coeffs[i]) % f.modulus;
  return acc;
}

/** 2n Lagrange values (interleaved: original, coset, original, ...) from n values. */
export function doubleEvaluations(f: Field, values: readonly bigint[]): bigint[] {
  const n = values.length;
  const odd = ntt(f, invNtt(f, values, n), n, true);
  const out = new Array<bigint>(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = values[i];
    out[2 * i + 1] = odd[i];
  }
  return out;
}

/**
 * The Lagrange basis polynomials of the n-th roots of unity evaluated at x:
 * L_i(x) = (x**n - 1) * w**i / (n * (x - w**i)). Returns null when x is itself a node.
 */
export function lagrangeCoefficients(f: Field, n: number, x: bigint): bigint[] | null {
  const nodes = f.nthRootPowers(n);
  const diffs = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    diffs[i] = f.sub(x, nodes[i]);
    if (diffs[i] === 0n) return null;
  }
  const inverses = f.batchInv(diffs);
  const scale = f.mul(f.sub(f.pow(x, BigInt(n)), 1n), f.invSmall(n));
  for (let i = 0; i < n; i++) inverses[i] = (((inverses[i] * nodes[i]) % f.modulus) * scale) % f.modulus;
  return inverses;
}

/** Evaluates each Lagrange-basis polynomial (all of the same power-of-two length) at x. */
export function polyEvalBatched(f: Field, polys: readonly (readonly bigint[])[], x: bigint): bigint[] {
  const n = polys[0].length;
  log2Exact(n);
  const coeffs = lagrangeCoefficients(f, n, x);
  if (!coeffs) {
    const index = f.nthRootPowers(n).indexOf(x);
    return polys.map((p) => p[index]);
  }
  return polys.map((p) => {
    if (p.length !== n) throw new Error('polyEvalBatched: polynomials differ in length');
    let acc = 0n;
    for (let i = 0; i < n; i++) acc += coeffs[i] * p[i];
    return acc % f.modulus;
  });
}

/**
 * Appends values to a Lagrange-basis polynomial given by its first m values (at the first m
 * powers of the n-th root) until it has n values: the lowest-degree interpolant's values.
 */
export function extendValuesToPowerOf2(f: Field, values: readonly bigint[], n: number): bigint[] {
  log2Exact(n);
  const m = values.length;
  if (m > n) throw new Error('extendValuesToPowerOf2: too many values');
  if (m === n) return values.slice();
  const nodes = f.nthRootPowers(n);
  if (m === n - 1) {
    // Degree < n - 1 means the x**(n-1) coefficient (1/n)·Σ v_i·w**i vanishes, which fixes
    // the last value: v_{n-1} = -w · Σ_{i<n-1} v_i·w**i.
    let acc = 0n;
    for (let i = 0; i < m; i++) acc += values[i] * nodes[i];
    return [...values, f.neg(f.mul(nodes[1] ?? 1n, f.reduce(acc)))];
  }
  return extendByInterpolation(f, values, nodes, n);
}

/** Barycentric interpolation through the m known points; quadratic, used only for small m. */
function extendByInterpolation(f: Field, values: readonly bigint[], nodes: readonly bigint[], n: number): bigint[] {
  const m = values.length;
  const weights = new Array<bigint>(m);
  for (let i = 0; i < m; i++) {
    let d = 1n;
    for (let j = 0; j < m; j++) if (j !== i) d = f.mul(d, f.sub(nodes[i], nodes[j]));
    weights[i] = f.inv(d);
  }
  const out = values.slice();
  for (let k = m; k < n; k++) {
    let full = 1n;
    for (let j = 0; j < m; j++) full = f.mul(full, f.sub(nodes[k], nodes[j]));
    let acc = 0n;
    for (let i = 0; i < m; i++) {
      acc = f.add(acc, f.mul(f.mul(weights[i], values[i]), f.inv(f.sub(nodes[k], nodes[i]))));
    }
    out.push(f.mul(full, acc));
  }
  return out;
}
