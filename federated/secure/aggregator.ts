/**
 * The aggregators' side of a Silo secure-aggregation task, for exactly two aggregators:
 *
 *   leader: report = decodeReport(upload)             helper: share = decodeReportShare(forwarded)
 *           s0 = await openShare(task, keys, 'leader', report)   s1 = await openShare(task, keys, 'helper', share)
 *           v0 = beginVerify(task, key, 'leader', report, s0)    v1 = beginVerify(task, key, 'helper', share, s1)
 *   either: msg = combineVerifierShares(task, v0.verifierShare, v1.verifierShare)   (throws: reject the report)
 *   each:   out = finishVerify(task, state, msg); accumulator.add(out)
 *   collector: unshardPopularity / unshardModelUpdate over both encoded aggregate shares.
 *
 * `verifyKey` is a 32-byte secret the two aggregators share and clients never learn.
 * Each aggregator only ever holds its own input share, which alone is uniformly random.
 */
import {
  decodeAggShare,
  decodeInputShare,
  decodePublicShare,
  decodeVerifierMessage,
  decodeVerifierShare,
  encodeAggShare,
  encodeVerifierMessage,
  encodeVerifierShare,
} from '../vdaf/codec.ts';
import type { Prio3InputShare, Prio3VerifyState } from '../vdaf/prio3.ts';
import { type AggregatorKeyPair, type AggregatorRole, type HpkeCiphertext, openInputShare } from './hpke.ts';
import { type ReportMetadata, decodePlaintextInputShare, inputShareAad, offsetOf } from './report.ts';
import { type SecureTask, vdafContext, vdafOf } from './task.ts';

/** The parts of a report an aggregator holds: metadata, public share and its own ciphertext. */
export interface ReportForAggregator {
  metadata: ReportMetadata;
  publicShare: Uint8Array;
  leaderShare?: HpkeCiphertext;
  helperShare?: HpkeCiphertext;
}

const aggregatorId = (role: AggregatorRole): number => (role === 'leader' ? 0 : 1);

/** Decrypts and decodes this aggregator's input share; throws on any mismatch or tampering. */
export async function openShare(
  task: SecureTask,
  keys: AggregatorKeyPair,
  role: AggregatorRole,
  report: ReportForAggregator,
): Promise<Prio3InputShare> {
  const ct = role === 'leader' ? report.leaderShare : report.helperShare;
  if (!ct) throw new Error(`report carries no ${role} share`);
  const aad = inputShareAad(task, report.metadata, report.publicShare);
  const payload = decodePlaintextInputShare(await openInputShare(keys, role, aad, ct));
  return decodeInputShare(vdafOf(task), aggregatorId(role), payload);
}

export interface VerifyStart {
  state: Prio3VerifyState;
  /** The encoded verifier share to send to the other aggregator. */
  verifierShare: Uint8Array;
}

/** The draft's verify_init (prep_init) on one aggregator's input share. */
export function beginVerify(
  task: SecureTask,
  verifyKey: Uint8Array,
  role: AggregatorRole,
  report: ReportForAggregator,
  inputShare: Prio3InputShare,
): VerifyStart {
  const vdaf = vdafOf(task);
  const publicShare = decodePublicShare(vdaf, report.publicShare);
  const { state, verifierShare } = vdaf.verifyInit(verifyKey, vdafContext(task), aggregatorId(role), report.metadata.reportId, publicShare, inputShare);
  return { state, verifierShare: encodeVerifierShare(vdaf, verifierShare) };
}

/**
 * Combines the leader's and the helper's verifier shares into the verifier message both need
 * to finish; throws when the proof fails, i.e. the report must be rejected by both.
 */
export function combineVerifierShares(task: SecureTask, leaderShare: Uint8Array, helperShare: Uint8Array): Uint8Array {
  const vdaf = vdafOf(task);
  const shares = [decodeVerifierShare(vdaf, leaderShare), decodeVerifierShare(vdaf, helperShare)];
  return encodeVerifierMessage(vdaf, vdaf.verifierSharesToMessage(vdafContext(task), shares));
}

/** The output share, once the joint randomness check passes; throws otherwise. */
export function finishVerify(task: SecureTask, state: Prio3VerifyState, verifierMessage: Uint8Array): bigint[] {
  const vdaf = vdafOf(task);
  return vdaf.verifyNext(state, decodeVerifierMessage(vdaf, verifierMessage));
}

/** Running sum of accepted output shares: memory is one vector whatever the cohort size. */
export class ShareAccumulator {
  private readonly sum: bigint[];
  count = 0;

  constructor(private readonly task: SecureTask) {
    this.sum = vdafOf(task).aggInit();
  }

  add(outShare: readonly bigint[]): void {
    vdafOf(this.task).aggUpdate(this.sum, outShare);
    this.count += 1;
  }

  /** The encoded aggregate share for the collector. */
  encode(): Uint8Array {
    return encodeAggShare(vdafOf(this.task), this.sum);
  }
}

/**
 * Running sum of ENCODED output shares, with no bigint per element: each element's 32-bit
 * little-endian limbs are summed in float64, which is exact while a limb sum stays below 2^53
 * (2^21 shares); the sum is folded into field elements once, at the end. Adding a 4,096-bucket
 * share this way costs a few µs instead of 4,096 bigint additions and their garbage.
 */
export class EncodedShareSum {
  private static readonly MAX_SHARES = 2 ** 21 - 1;
  private readonly limbs: Float64Array;
  private readonly limbsPerElement: number;
  count = 0;

  constructor(private readonly task: SecureTask) {
    const vdaf = vdafOf(task);
    this.limbsPerElement = vdaf.field.encodedSize / 4;
    this.limbs = new Float64Array(vdaf.flp.outputLen * this.limbsPerElement);
  }

  /** Adds one encoded output share (as encodeVec wrote it); throws on a wrong length. */
  add(encoded: Uint8Array): void {
    if (encoded.length !== this.limbs.length * 4) throw new Error('output share has the wrong length');
    if (this.count >= EncodedShareSum.MAX_SHARES) throw new Error('too many shares for one running sum');
    const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
    const limbs = this.limbs;
    for (let i = 0; i < limbs.length; i++) limbs[i] += view.getUint32(4 * i, true);
    this.count += 1;
  }

  /** The aggregate share as field elements. */
  toField(): bigint[] {
    const field = vdafOf(this.task).field;
    const w = this.limbsPerElement;
    const out = new Array<bigint>(this.limbs.length / w);
    for (let e = 0; e < out.length; e++) {
      let x = 0n;
      for (let k = w - 1; k >= 0; k--) x = (x << 32n) + BigInt(this.limbs[e * w + k]);
      out[e] = field.reduce(x);
    }
    return out;
  }
}

/** Per-bucket counts from both aggregate shares. */
export function unshardPopularity(task: SecureTask, aggShares: readonly Uint8Array[], numReports: number): number[] {
  if (task.params.kind !== 'popularity') throw new Error('not a popularity task');
  const vdaf = vdafOf(task);
  return vdaf.unshard(aggShares.map((s) => decodeAggShare(vdaf, s)), numReports);
}

/** The sum of the signed updates: the aggregate minus numReports times the offset. */
export function unshardModelUpdate(task: SecureTask, aggShares: readonly Uint8Array[], numReports: number): number[] {
  const p = task.params;
  if (p.kind !== 'model-update') throw new Error('not a model-update task');
  const vdaf = vdafOf(task);
  const offset = offsetOf(p.bits) * numReports;
  return vdaf.unshard(aggShares.map((s) => decodeAggShare(vdaf, s)), numReports).map((v) => v - offset);
}
