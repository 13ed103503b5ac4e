/**
 * A Silo secure-aggregation task: which Prio3 variant, its parameters, and the bytes every
 * party binds into the VDAF context and the HPKE associated data so that a share prepared for
 * one task can never be aggregated into another.
 */
import { prio3MultihotCountVec, prio3SumVec } from '../vdaf/variants.ts';
import type { Prio3 } from '../vdaf/prio3.ts';
import { concatBytes } from '../vdaf/xof.ts';
import { ByteWriter } from './wire.ts';

/** The DAP draft version whose domain separation strings Silo uses. */
export const DAP_VERSION_TAG = 'dap-18';

export type PopularityParams = { kind: 'popularity'; length: number; maxWeight: number; chunkLength?: number };
export type ModelUpdateParams = { kind: 'model-update'; length: number; bits: number; chunkLength?: number };
export type TaskParams = PopularityParams | ModelUpdateParams;

export interface SecureTask {
  /** 32 bytes, unique per task (DAP's TaskID). */
  readonly taskId: Uint8Array;
  readonly params: TaskParams;
}

/**
 * The ParallelSum chunk length with the shortest proof for this many encoded elements. The
 * draft recommends about √n but notes that rounding (the wire polynomials' power-of-two
 * length) can make that up to 50% longer than optimal: √65,541 = 256 needs 257 calls and a
 * 512-point wire polynomial, while 258 fits 255 calls in 256 points.
 */
export function defaultChunkLength(encodedLength: number): number {
  let best = { chunk: encodedLength, proofLen: Infinity };
  for (let p = 2; p / 2 <= encodedLength; p *= 2) {
    const chunk = Math.ceil(encodedLength / (p - 1));
    const proofLen = 2 * chunk + 2 * (p - 1) + 1;
    if (proofLen < best.proofLen) best = { chunk, proofLen };
  }
  return best.chunk;
}

function bitLength(x: number): number {
  return x === 0 ? 0 : x.toString(2).length;
}

export function chunkLengthOf(params: TaskParams): number {
  if (params.chunkLength) return params.chunkLength;
  const encoded = params.kind === 'popularity' ? params.length + bitLength(params.maxWeight) : params.length * params.bits;
  return defaultChunkLength(encoded);
}

export function checkTask(task: SecureTask): void {
  if (task.taskId.length !== 32) throw new Error('task id must be 32 bytes');
  const p = task.params;
  if (!Number.isInteger(p.length) || p.length < 1) throw new Error('task length must be a positive integer');
  if (p.kind === 'popularity' && (!Number.isInteger(p.maxWeight) || p.maxWeight < 1 || p.maxWeight > p.length)) {
    throw new Error('maxWeight must be in [1, length]');
  }
  if (p.kind === 'model-update' && (!Number.isInteger(p.bits) || p.bits < 1 || p.bits > 32)) throw new Error('bits must be in [1, 32]');
}

const vdafCache = new WeakMap<SecureTask, Prio3<unknown, number[]>>();

/** The task's two-aggregator Prio3 instance. */
export function vdafOf(task: SecureTask): Prio3<unknown, number[]> {
  let vdaf = vdafCache.get(task);
  if (!vdaf) {
    checkTask(task);
    const p = task.params;
    const chunk = chunkLengthOf(p);
    vdaf = (
      p.kind === 'popularity' ? prio3MultihotCountVec(2, p.length, p.maxWeight, chunk) : prio3SumVec(2, p.length, 2 ** p.bits - 1, chunk)
    ) as Prio3<unknown, number[]>;
    vdafCache.set(task, vdaf);
  }
  return vdaf;
}

/**
 * Silo's stand-in for DAP's TaskConfiguration: VDAF codepoint and parameters only (Silo's
 * endpoints, batch mode and time precision live in its own protocol, not in the report).
 */
export function encodeTaskConfig(task: SecureTask): Uint8Array {
  const vdaf = vdafOf(task);
  const p = task.params;
  return new ByteWriter()
    .uint(vdaf.id, 4)
    .uint(p.length, 4)
    .uint(p.kind === 'popularity' ? p.maxWeight : 2 ** p.bits - 1, 4)
    .uint(chunkLengthOf(p), 4)
    .finish();
}

/** The VDAF application context: "dap-18" || task id, as DAP shards with. */
export function vdafContext(task: SecureTask): Uint8Array {
  return concatBytes([new TextEncoder().encode(DAP_VERSION_TAG), task.taskId]);
}
