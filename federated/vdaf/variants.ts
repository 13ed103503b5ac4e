/** The Prio3 variants of the VDAF draft, with their codepoints, fields and proof counts. */
import { Count, HigherDegree, Histogram, MultihotCountVec, Sum, SumVec } from './circuits.ts';
import { Field64, Field128 } from './field.ts';
import { FlpBBCGGI19 } from './flp.ts';
import { Prio3 } from './prio3.ts';

/** The draft reserves 0xFFFF0000..0xFFFFFFFF for private use; its test variants use the top one. */
export const PRIVATE_USE_ID = 0xffffffff;

export function prio3Count(shares: number): Prio3<number, number> {
  return new Prio3(0x00000001, shares, 1, new FlpBBCGGI19(new Count(Field64)));
}

export function prio3Sum(shares: number, maxMeasurement: number): Prio3<number, number> {
  return new Prio3(0x00000002, shares, 1, new FlpBBCGGI19(new Sum(Field64, maxMeasurement)));
}

export function prio3SumVec(shares: number, length: number, maxMeasurement: number, chunkLength: number): Prio3<number[], number[]> {
  return new Prio3(0x00000003, shares, 1, new FlpBBCGGI19(new SumVec(Field128, length, maxMeasurement, chunkLength)));
}

export function prio3Histogram(shares: number, length: number, chunkLength: number): Prio3<number, number[]> {
  return new Prio3(0x00000004, shares, 1, new FlpBBCGGI19(new Histogram(Field128, length, chunkLength)));
}

export function prio3MultihotCountVec(
  shares: number,
  length: number,
  maxWeight: number,
  chunkLength: number,
): Prio3<boolean[], number[]> {
  return new Prio3(0x00000005, shares, 1, new FlpBBCGGI19(new MultihotCountVec(Field128, length, maxWeight, chunkLength)));
}

/** SumVec over Field64 with several proofs (the draft's multiproof test variant; private-use id). */
export function prio3SumVecWithMultiproof(
  shares: number,
  length: number,
  maxMeasurement: number,
  chunkLength: number,
  proofs: number,
): Prio3<number[], number[]> {
  return new Prio3(PRIVATE_USE_ID, shares, proofs, new FlpBBCGGI19(new SumVec(Field64, length, maxMeasurement, chunkLength)));
}

/** The degree-3 test circuit of the draft's reference vectors (private-use id). */
export function prio3HigherDegree(shares: number): Prio3<number, number> {
  return new Prio3(PRIVATE_USE_ID, shares, 1, new FlpBBCGGI19(new HigherDegree(Field64)));
}
