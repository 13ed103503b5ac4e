/**
 * Validity circuits of the VDAF draft's Prio3 variants (Count, Sum, SumVec, Histogram,
 * MultihotCountVec), plus the degree-3 test circuit its reference vectors exercise.
 */
import type { Field } from './field.ts';
import type { GadgetCall, Valid } from './flp.ts';
import { type Gadget, Mul, ParallelSum, PolyEval } from './gadgets.ts';

function bitLength(x: number): number {
  if (!Number.isSafeInteger(x) || x < 0) throw new Error(`not a non-negative safe integer: ${x}`);
  return x === 0 ? 0 : x.toString(2).length;
}

/** Bits 0..bits-2 of the value (or value - lastWeight), then a last 0/1 with weight lastWeight. */
export function encodeRangeCheckedInt(f: Field, value: number, maxMeasurement: number): bigint[] {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`measurement must be a non-negative integer: ${value}`);
  if (value > maxMeasurement) throw new Error(`measurement ${value} exceeds ${maxMeasurement}`);
  const bits = bitLength(maxMeasurement);
  const restAllOnes = 2 ** (bits - 1) - 1;
  const lastWeight = maxMeasurement - restAllOnes;
  const useLast = value > restAllOnes;
  const rest = useLast ? value - lastWeight : value;
  const out: bigint[] = [];
  for (let l = 0; l < bits - 1; l++) out.push(BigInt(Math.floor(rest / 2 ** l) % 2));
  out.push(useLast ? 1n : 0n);
  return out.map((b) => f.of(b));
}

/** The linear inverse of encodeRangeCheckedInt; also valid on shares. */
export function decodeRangeCheckedInt(f: Field, encoded: readonly bigint[], maxMeasurement: number): bigint {
  const bits = bitLength(maxMeasurement);
  const lastWeight = BigInt(maxMeasurement - (2 ** (bits - 1) - 1));
  let acc = 0n;
  for (let l = 0; l < bits - 1; l++) acc += (1n << BigInt(l)) * encoded[l];
  acc += lastWeight * encoded[bits - 1];
  return f.reduce(acc);
}

/**
 * Σ over ParallelSum(Mul) calls of Σ_j r_i**(j+1) * x * (x - 1/shares): zero for a 0/1 vector,
 * non-zero with high probability otherwise. Shared by SumVec, Histogram and MultihotCountVec.
 */
function rangeCheckChunks(
  f: Field,
  meas: readonly bigint[],
  jointRand: readonly bigint[],
  numShares: number,
  chunkLength: number,
  calls: number,
  gadget: GadgetCall,
): bigint {
  const sharesInv = f.invSmall(numShares);
  const inputs = new Array<bigint>(2 * chunkLength);
  let out = 0n;
  for (let i = 0; i < calls; i++) {
    const r = jointRand[i];
    let rPower = r;
    for (let j = 0; j < chunkLength; j++) {
      const index = i * chunkLength + j;
      const x = index < meas.length ? meas[index] : 0n;
      inputs[2 * j] = f.mul(rPower, x);
      inputs[2 * j + 1] = f.sub(x, sharesInv);
      rPower = f.mul(rPower, r);
    }
    out = f.add(out, gadget.eval(inputs));
  }
  return out;
}

function sum(f: Field, xs: readonly bigint[]): bigint {
  let acc = 0n;
  for (const x of xs) acc += x;
  return f.reduce(acc);
}

const toInts = (xs: readonly bigint[]): number[] => xs.map((x) => Number(x));

export class Count implements Valid<number, number> {
  readonly gadgets: Gadget[] = [new Mul()];
  readonly gadgetCalls = [1];
  readonly measLen = 1;
  readonly jointRandLen = 0;
  readonly evalOutputLen = 1;
  readonly outputLen = 1;
  constructor(readonly field: Field) {}

  encode(measurement: number): bigint[] {
    if (measurement !== 0 && measurement !== 1) throw new Error('Count: measurement must be 0 or 1');
    return [this.field.of(measurement)];
  }
  eval(meas: readonly bigint[], _jr: readonly bigint[], _n: number, g: readonly GadgetCall[]): bigint[] {
    return [this.field.sub(g[0].eval([meas[0], meas[0]]), meas[0])];
  }
  truncate(meas: readonly bigint[]): bigint[] {
    return meas.slice();
  }
  decode(output: readonly bigint[]): number {
    return Number(output[0]);
  }
}

export class Sum implements Valid<number, number> {
  readonly gadgets: Gadget[];
  readonly gadgetCalls: number[];
  readonly measLen: number;
  readonly jointRandLen = 0;
  readonly evalOutputLen: number;
  readonly outputLen = 1;
  constructor(
    readonly field: Field,
    readonly maxMeasurement: number,
  ) {
    const bits = bitLength(maxMeasurement);
    this.gadgetCalls = [bits];
    this.gadgets = [new PolyEval([0, -1, 1], bits)];
    this.measLen = bits;
    this.evalOutputLen = bits;
  }

  encode(measurement: number): bigint[] {
    return encodeRangeCheckedInt(this.field, measurement, this.maxMeasurement);
  }
  eval(meas: readonly bigint[], _jr: readonly bigint[], _n: number, g: readonly GadgetCall[]): bigint[] {
    return meas.map((b) => g[0].eval([b]));
  }
  truncate(meas: readonly bigint[]): bigint[] {
    return [decodeRangeCheckedInt(this.field, meas, this.maxMeasurement)];
  }
  decode(output: readonly bigint[]): number {
    return Number(output[0]);
  }
}

export class SumVec implements Valid<number[], number[]> {
  readonly gadgets: Gadget[];
  readonly gadgetCalls: number[];
  readonly measLen: number;
  readonly jointRandLen: number;
  readonly evalOutputLen = 1;
  readonly outputLen: number;
  readonly bits: number;
  constructor(
    readonly field: Field,
    readonly length: number,
    readonly maxMeasurement: number,
    readonly chunkLength: number,
  ) {
    this.bits = bitLength(maxMeasurement);
    this.gadgets = [new ParallelSum(new Mul(), chunkLength)];
    this.gadgetCalls = [Math.ceil((length * this.bits) / chunkLength)];
    this.measLen = length * this.bits;
    this.outputLen = length;
    this.jointRandLen = this.gadgetCalls[0];
  }

  encode(measurement: number[]): bigint[] {
    if (measurement.length !== this.length) throw new Error(`SumVec: measurement length must be ${this.length}`);
    return measurement.flatMap((v) => encodeRangeCheckedInt(this.field, v, this.maxMeasurement));
  }
  eval(meas: readonly bigint[], jr: readonly bigint[], n: number, g: readonly GadgetCall[]): bigint[] {
    return [rangeCheckChunks(this.field, meas, jr, n, this.chunkLength, this.gadgetCalls[0], g[0])];
  }
  truncate(meas: readonly bigint[]): bigint[] {
    const out: bigint[] = [];
    for (let i = 0; i < this.length; i++) {
      out.push(decodeRangeCheckedInt(this.field, meas.slice(i * this.bits, (i + 1) * this.bits), this.maxMeasurement));
    }
    return out;
  }
  decode(output: readonly bigint[]): number[] {
    return toInts(output);
  }
}

export class Histogram implements Valid<number, number[]> {
  readonly gadgets: Gadget[];
  readonly gadgetCalls: number[];
  readonly measLen: number;
  readonly jointRandLen: number;
  readonly evalOutputLen = 2;
  readonly outputLen: number;
  constructor(
    readonly field: Field,
    readonly length: number,
    readonly chunkLength: number,
  ) {
    this.gadgets = [new ParallelSum(new Mul(), chunkLength)];
    this.gadgetCalls = [Math.ceil(length / chunkLength)];
    this.measLen = length;
    this.outputLen = length;
    this.jointRandLen = this.gadgetCalls[0];
  }

  encode(measurement: number): bigint[] {
    if (!Number.isInteger(measurement) || measurement < 0 || measurement >= this.length) {
      throw new Error(`Histogram: bucket must be in [0, ${this.length})`);
    }
    const out = this.field.zeros(this.length);
    out[measurement] = 1n;
    return out;
  }
  eval(meas: readonly bigint[], jr: readonly bigint[], n: number, g: readonly GadgetCall[]): bigint[] {
    const f = this.field;
    const rangeCheck = rangeCheckChunks(f, meas, jr, n, this.chunkLength, this.gadgetCalls[0], g[0]);
    const sumCheck = f.sub(sum(f, meas), f.invSmall(n));
    return [rangeCheck, sumCheck];
  }
  truncate(meas: readonly bigint[]): bigint[] {
    return meas.slice();
  }
  decode(output: readonly bigint[]): number[] {
    return toInts(output);
  }
}

export class MultihotCountVec implements Valid<boolean[], number[]> {
  readonly gadgets: Gadget[];
  readonly gadgetCalls: number[];
  readonly measLen: number;
  readonly jointRandLen: number;
  readonly evalOutputLen = 2;
  readonly outputLen: number;
  constructor(
    readonly field: Field,
    readonly length: number,
    readonly maxWeight: number,
    readonly chunkLength: number,
  ) {
    if (length <= 0 || maxWeight <= 0 || maxWeight > length || chunkLength <= 0) {
      throw new Error('MultihotCountVec: need 0 < maxWeight <= length and chunkLength > 0');
    }
    const bitsForWeight = bitLength(maxWeight);
    this.gadgets = [new ParallelSum(new Mul(), chunkLength)];
    this.gadgetCalls = [Math.ceil((length + bitsForWeight) / chunkLength)];
    this.measLen = length + bitsForWeight;
    this.outputLen = length;
    this.jointRandLen = this.gadgetCalls[0];
  }

  encode(measurement: boolean[]): bigint[] {
    if (measurement.length !== this.length) throw new Error(`MultihotCountVec: measurement length must be ${this.length}`);
    const weight = measurement.reduce((s, b) => s + (b ? 1 : 0), 0);
    return [...measurement.map((b) => (b ? 1n : 0n)), ...encodeRangeCheckedInt(this.field, weight, this.maxWeight)];
  }
  eval(meas: readonly bigint[], jr: readonly bigint[], n: number, g: readonly GadgetCall[]): bigint[] {
    const f = this.field;
    const rangeCheck = rangeCheckChunks(f, meas, jr, n, this.chunkLength, this.gadgetCalls[0], g[0]);
    const weight = sum(f, meas.slice(0, this.length));
    const reported = decodeRangeCheckedInt(f, meas.slice(this.length), this.maxWeight);
    return [rangeCheck, f.sub(weight, reported)];
  }
  truncate(meas: readonly bigint[]): bigint[] {
    return meas.slice(0, this.length);
  }
  decode(output: readonly bigint[]): number[] {
    return toInts(output);
  }
}

/** x * (x - 1) * (x - 2) through one degree-3 PolyEval: accepts 0, 1 and 2 (a test circuit). */
export class HigherDegree implements Valid<number, number> {
  readonly gadgets: Gadget[] = [new PolyEval([0, 2, -3, 1], 1)];
  readonly gadgetCalls = [1];
  readonly measLen = 1;
  readonly jointRandLen = 0;
  readonly evalOutputLen = 1;
  readonly outputLen = 1;
  constructor(readonly field: Field) {}

  encode(measurement: number): bigint[] {
    return [this.field.of(measurement)];
  }
  eval(meas: readonly bigint[], _jr: readonly bigint[], _n: number, g: readonly GadgetCall[]): bigint[] {
    return [g[0].eval([meas[0]])];
  }
  truncate(meas: readonly bigint[]): bigint[] {
    return meas.slice();
  }
  decode(output: readonly bigint[]): number {
    return Number(output[0]);
  }
}
