/**
 * FLP gadgets of the VDAF draft: the non-affine sub-circuits whose calls the proof covers.
 * `evalPoly` works on wire polynomials in the Lagrange basis (values at roots of unity).
 */
import { type Field, nextPowerOf2 } from './field.ts';
import { doubleEvaluations, invNtt, ntt, polyEvalMonomial } from './poly.ts';

export interface Gadget {
  readonly arity: number;
  readonly degree: number;
  eval(f: Field, inp: readonly bigint[]): bigint;
  evalPoly(f: Field, inpPoly: readonly (readonly bigint[])[]): bigint[];
}

/** Values per wire polynomial: the call count plus the seed, rounded up to a power of two. */
export function wirePolyLen(gadgetCalls: number): number {
  return nextPowerOf2(1 + gadgetCalls);
}

/** Values in the gadget polynomial sent in the proof. */
export function gadgetPolyLen(degree: number, wirePolyLength: number): number {
  return degree * (wirePolyLength - 1) + 1;
}

/** Mul(x, y) = x * y. */
export class Mul implements Gadget {
  readonly arity = 2;
  readonly degree = 2;

  eval(f: Field, inp: readonly bigint[]): bigint {
    return f.mul(inp[0], inp[1]);
  }

  evalPoly(f: Field, inpPoly: readonly (readonly bigint[])[]): bigint[] {
    const a = doubleEvaluations(f, inpPoly[0]);
    const b = doubleEvaluations(f, inpPoly[1]);
    return a.map((x, i) => f.mul(x, b[i]));
  }
}

/** PolyEval(x) = p(x) for a fixed polynomial p (coefficients, constant term first). */
export class PolyEval implements Gadget {
  readonly arity = 1;
  readonly degree: number;
  private readonly coeffs: readonly bigint[];
  private readonly n: number;

  constructor(coeffs: readonly (bigint | number)[], numCalls: number) {
    let last = coeffs.length - 1;
    while (last >= 0 && BigInt(coeffs[last]) === 0n) last--;
    if (last < 0) throw new Error('PolyEval: zero polynomial');
    this.coeffs = coeffs.slice(0, last + 1).map((c) => BigInt(c));
    this.degree = last;
    this.n = nextPowerOf2(gadgetPolyLen(this.degree, wirePolyLen(numCalls)));
  }

  eval(f: Field, inp: readonly bigint[]): bigint {
    return polyEvalMonomial(f, this.fieldCoeffs(f), inp[0]);
  }

  evalPoly(f: Field, inpPoly: readonly (readonly bigint[])[]): bigint[] {
    const values = inpPoly[0];
    const spread = ntt(f, invNtt(f, values, values.length), this.n);
    const coeffs = this.fieldCoeffs(f);
    return spread.map((x) => polyEvalMonomial(f, coeffs, x));
  }

  private fieldCoeffs(f: Field): bigint[] {
    return this.coeffs.map((c) => f.of(c));
  }
}

/** ParallelSum(g, count)(x) = Σ_i g(x[i*arity .. (i+1)*arity]). */
export class ParallelSum implements Gadget {
  readonly arity: number;
  readonly degree: number;

  constructor(
    readonly subcircuit: Gadget,
    readonly count: number,
  ) {
    this.arity = subcircuit.arity * count;
    this.degree = subcircuit.degree;
  }

  eval(f: Field, inp: readonly bigint[]): bigint {
    const a = this.subcircuit.arity;
    let out = 0n;
    for (let i = 0; i < this.count; i++) out = f.add(out, this.subcircuit.eval(f, inp.slice(i * a, (i + 1) * a)));
    return out;
  }

  evalPoly(f: Field, inpPoly: readonly (readonly bigint[])[]): bigint[] {
    const outLen = nextPowerOf2(gadgetPolyLen(this.degree, inpPoly[0].length));
    if (this.subcircuit instanceof Mul) return this.mulSumPoly(f, inpPoly, outLen);
    const a = this.subcircuit.arity;
    const out = f.zeros(outLen);
    for (let i = 0; i < this.count; i++) {
      const part = this.subcircuit.evalPoly(f, inpPoly.slice(i * a, (i + 1) * a));
      for (let j = 0; j < outLen; j++) out[j] = f.add(out[j], part[j]);
    }
    return out;
  }

  /** Σ of products of doubled wire pairs, accumulated unreduced and reduced once. */
  private mulSumPoly(f: Field, inpPoly: readonly (readonly bigint[])[], outLen: number): bigint[] {
    const acc = new Array<bigint>(outLen).fill(0n);
    for (let i = 0; i < this.count; i++) {
      const x = doubleEvaluations(f, inpPoly[2 * i]);
      const y = doubleEvaluations(f, inpPoly[2 * i + 1]);
      for (let j = 0; j < outLen; j++) acc[j] += x[j] * y[j];
    }
    return acc.map((v) => v % f.modulus);
  }
}
