/**
 * The generic fully linear proof of the VDAF draft (FlpBBCGGI19) over a validity circuit:
 * prove (client), query (each aggregator, on its shares), decide (on the summed verifier).
 */
import { type Field, nextPowerOf2 } from './field.ts';
import { type Gadget, gadgetPolyLen, wirePolyLen } from './gadgets.ts';
import { extendValuesToPowerOf2, lagrangeCoefficients } from './poly.ts';

/** What a circuit calls: a gadget, possibly wrapped to record its wires. */
export interface GadgetCall {
  eval(inp: readonly bigint[]): bigint;
}

/** A validity circuit: accepts a measurement when every output is zero. */
export interface Valid<M, R> {
  readonly field: Field;
  readonly gadgets: readonly Gadget[];
  readonly gadgetCalls: readonly number[];
  readonly measLen: number;
  readonly jointRandLen: number;
  readonly evalOutputLen: number;
  readonly outputLen: number;
  encode(measurement: M): bigint[];
  /** Constants added in the circuit are scaled by 1/numShares so shares sum correctly. */
  eval(meas: readonly bigint[], jointRand: readonly bigint[], numShares: number, gadgets: readonly GadgetCall[]): bigint[];
  truncate(meas: readonly bigint[]): bigint[];
  decode(output: readonly bigint[], numMeasurements: number): R;
}

/** Records the wire values of each call; wire j starts with its seed at index 0. */
class WireRecorder {
  readonly wires: bigint[][];
  private calls = 0;

  constructor(f: Field, seeds: readonly bigint[], gadgetCalls: number) {
    const p = wirePolyLen(gadgetCalls);
    this.wires = seeds.map((s) => {
      const w = f.zeros(p);
      w[0] = s;
      return w;
    });
  }

  record(inp: readonly bigint[]): number {
    this.calls += 1;
    if (inp.length !== this.wires.length) throw new Error('gadget called with the wrong arity');
    for (let j = 0; j < inp.length; j++) this.wires[j][this.calls] = inp[j];
    return this.calls;
  }
}

class ProveCall extends WireRecorder implements GadgetCall {
  constructor(
    private readonly f: Field,
    seeds: readonly bigint[],
    readonly gadget: Gadget,
    gadgetCalls: number,
  ) {
    super(f, seeds, gadgetCalls);
  }

  eval(inp: readonly bigint[]): bigint {
    this.record(inp);
    return this.gadget.eval(this.f, inp);
  }
}

/**
 * Answers each call from the gadget polynomial and, instead of storing the wires, folds each
 * call's inputs straight into the wire polynomials' values at the test point t: the Lagrange
 * form is linear in the wire values, so Σ_k L_k(t)·wire[k] is the same number the draft's
 * record-then-evaluate computes, with one pass and no per-call storage.
 */
class QueryCall implements GadgetCall {
  /** The gadget polynomial's values at the n-th roots of unity, n = next power of 2. */
  readonly poly: bigint[];
  private readonly step: number;
  private readonly coeffs: bigint[];
  private readonly acc: bigint[];
  private calls = 0;

  constructor(
    private readonly f: Field,
    seeds: readonly bigint[],
    gadgetPoly: readonly bigint[],
    gadget: Gadget,
    gadgetCalls: number,
    t: bigint,
  ) {
    const p = wirePolyLen(gadgetCalls);
    const n = nextPowerOf2(gadgetPoly.length);
    if (nextPowerOf2(gadgetPolyLen(gadget.degree, p)) !== n) throw new Error('gadget polynomial has the wrong length');
    this.poly = extendValuesToPowerOf2(f, gadgetPoly, n);
    // Gadget output k sits at the p-th root w_p**k = w_n**(k * n/p).
    this.step = n / p;
    // A test point among the wire polynomials' nodes would reveal a recorded wire value.
    const coeffs = f.pow(t, BigInt(p)) === 1n ? null : lagrangeCoefficients(f, p, t);
    if (!coeffs) throw new Error('query: test point is a root of unity');
    this.coeffs = coeffs;
    this.acc = seeds.map((s) => coeffs[0] * s);
  }

  eval(inp: readonly bigint[]): bigint {
    const k = ++this.calls;
    if (k >= this.coeffs.length) throw new Error('gadget called more often than declared');
    if (inp.length !== this.acc.length) throw new Error('gadget called with the wrong arity');
    const c = this.coeffs[k];
    for (let j = 0; j < inp.length; j++) this.acc[j] += c * inp[j];
    return this.poly[k * this.step];
  }

  /** Each wire polynomial evaluated at t (the zero padding after the last call adds nothing). */
  wireChecks(): bigint[] {
    return this.acc.map((x) => this.f.reduce(x));
  }
}

export class FlpBBCGGI19<M, R> {
  readonly field: Field;
  readonly proveRandLen: number;
  readonly queryRandLen: number;
  readonly jointRandLen: number;
  readonly measLen: number;
  readonly outputLen: number;
  readonly proofLen: number;
  readonly verifierLen: number;

  constructor(readonly valid: Valid<M, R>) {
    this.field = valid.field;
    this.proveRandLen = valid.gadgets.reduce((s, g) => s + g.arity, 0);
    this.queryRandLen = valid.gadgets.length + (valid.evalOutputLen > 1 ? valid.evalOutputLen : 0);
    this.jointRandLen = valid.jointRandLen;
    this.measLen = valid.measLen;
    this.outputLen = valid.outputLen;
    this.proofLen = valid.gadgets.reduce(
      (s, g, i) => s + g.arity + gadgetPolyLen(g.degree, wirePolyLen(valid.gadgetCalls[i])),
      0,
    );
    this.verifierLen = 1 + valid.gadgets.reduce((s, g) => s + g.arity + 1, 0);
  }

  encode(measurement: M): bigint[] {
    return this.valid.encode(measurement);
  }

  truncate(meas: readonly bigint[]): bigint[] {
    return this.valid.truncate(meas);
  }

  decode(output: readonly bigint[], numMeasurements: number): R {
    return this.valid.decode(output, numMeasurements);
  }

  prove(meas: readonly bigint[], proveRand: readonly bigint[], jointRand: readonly bigint[]): bigint[] {
    const f = this.field;
    let offset = 0;
    const calls = this.valid.gadgets.map((g, i) => {
      const seeds = proveRand.slice(offset, offset + g.arity);
      offset += g.arity;
      return new ProveCall(f, seeds, g, this.valid.gadgetCalls[i]);
    });
    this.valid.eval(meas, jointRand, 1, calls);
    const proof: bigint[] = [];
    for (const call of calls) {
      const p = call.wires[0].length;
      for (const w of call.wires) proof.push(w[0]);
      const gadgetPoly = call.gadget.evalPoly(f, call.wires);
      const len = gadgetPolyLen(call.gadget.degree, p);
      for (let i = 0; i < len; i++) proof.push(gadgetPoly[i]);
    }
    return proof;
  }

  query(
    meas: readonly bigint[],
    proof: readonly bigint[],
    queryRand: readonly bigint[],
    jointRand: readonly bigint[],
    numShares: number,
  ): bigint[] {
    const f = this.field;
    if (meas.length !== this.measLen || proof.length !== this.proofLen) throw new Error('query: wrong share length');
    const tOffset = this.valid.evalOutputLen > 1 ? this.valid.evalOutputLen : 0;
    let offset = 0;
    const calls = this.valid.gadgets.map((g, i) => {
      const p = wirePolyLen(this.valid.gadgetCalls[i]);
      const seeds = proof.slice(offset, offset + g.arity);
      offset += g.arity;
      const len = gadgetPolyLen(g.degree, p);
      const poly = proof.slice(offset, offset + len);
      offset += len;
      return new QueryCall(f, seeds, poly, g, this.valid.gadgetCalls[i], queryRand[tOffset + i]);
    });
    const out = this.valid.eval(meas, jointRand, numShares, calls);
    let v: bigint;
    if (this.valid.evalOutputLen > 1) {
      let acc = 0n;
      for (let i = 0; i < out.length; i++) acc += queryRand[i] * out[i];
      v = acc % f.modulus;
    } else {
      v = out[0];
    }
    const verifier = [v];
    calls.forEach((call, i) => {
      verifier.push(...call.wireChecks());
      verifier.push(evalLagrange(f, call.poly, queryRand[tOffset + i]));
    });
    return verifier;
  }

  decide(verifier: readonly bigint[]): boolean {
    if (verifier.length !== this.verifierLen) throw new Error('decide: wrong verifier length');
    if (verifier[0] !== 0n) return false;
    let offset = 1;
    for (const g of this.valid.gadgets) {
      const wireChecks = verifier.slice(offset, offset + g.arity);
      const gadgetCheck = verifier[offset + g.arity];
      offset += g.arity + 1;
      if (g.eval(this.field, wireChecks) !== gadgetCheck) return false;
    }
    return true;
  }
}

function evalLagrange(f: Field, values: readonly bigint[], t: bigint): bigint {
  const coeffs = lagrangeCoefficients(f, values.length, t);
  if (!coeffs) return values[f.nthRootPowers(values.length).indexOf(t)];
  let acc = 0n;
  for (let i = 0; i < values.length; i++) acc += coeffs[i] * values[i];
  return acc % f.modulus;
}
