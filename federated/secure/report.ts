/**
 * DAP-style reports for Silo: the client shards its measurement with Prio3 (report id as the
 * nonce, "dap-18" || task id as the context) and HPKE-encrypts each aggregator's input share
 * to that aggregator, so the leader, which relays the upload, reads only its own share and a
 * network observer reads nothing but lengths.
 */
import { encodeInputShare, encodePublicShare } from '../vdaf/codec.ts';
import { type HpkeCiphertext, type HpkeConfig, readHpkeCiphertext, sealInputShare, writeHpkeCiphertext } from './hpke.ts';
import { type ModelUpdateParams, type PopularityParams, type SecureTask, encodeTaskConfig, vdafContext, vdafOf } from './task.ts';
import { ByteReader, ByteWriter } from './wire.ts';

export interface ReportMetadata {
  /** 16 random bytes; also the VDAF nonce. */
  reportId: Uint8Array;
  /** Seconds since the epoch, rounded by the caller to the round so it does not time the shopper. */
  time: bigint;
}

export interface Report {
  metadata: ReportMetadata;
  publicShare: Uint8Array;
  leaderShare: HpkeCiphertext;
  helperShare: HpkeCiphertext;
}

/** One report before encryption: the encoded public share and each aggregator's input share. */
export interface ShardedReport {
  task: SecureTask;
  reportId: Uint8Array;
  publicShare: Uint8Array;
  leaderInputShare: Uint8Array;
  helperInputShare: Uint8Array;
}

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** Shards any measurement of the task's VDAF (exposed for tests that play other clients). */
export function shardReport(task: SecureTask, measurement: unknown): ShardedReport {
  const vdaf = vdafOf(task);
  const reportId = randomBytes(vdaf.nonceSize);
  const { publicShare, inputShares } = vdaf.shard(vdafContext(task), measurement, reportId, randomBytes(vdaf.randSize));
  return {
    task,
    reportId,
    publicShare: encodePublicShare(vdaf, publicShare),
    leaderInputShare: encodeInputShare(vdaf, inputShares[0]),
    helperInputShare: encodeInputShare(vdaf, inputShares[1]),
  };
}

/**
 * The popularity vote: a 0/1 vector over `length` hash buckets with a one at each distinct
 * bucket in `itemBuckets`, proved (Prio3MultihotCountVec) to hold at most `maxWeight` ones.
 */
export function popularityReport(
  itemBuckets: Iterable<number>,
  params: Omit<PopularityParams, 'kind'> & { taskId: Uint8Array },
): ShardedReport {
  const task: SecureTask = { taskId: params.taskId, params: { kind: 'popularity', length: params.length, maxWeight: params.maxWeight, chunkLength: params.chunkLength } };
  const vector = new Array<boolean>(params.length).fill(false);
  let weight = 0;
  for (const b of itemBuckets) {
    if (!Number.isInteger(b) || b < 0 || b >= params.length) throw new Error(`bucket ${b} is outside [0, ${params.length})`);
    if (!vector[b]) weight += 1;
    vector[b] = true;
  }
  if (weight > params.maxWeight) throw new Error(`${weight} buckets exceed the task's maximum of ${params.maxWeight}`);
  return shardReport(task, vector);
}

/** Maps a signed value in [-2^(bits-1), 2^(bits-1)) to [0, 2^bits) for the range proof. */
export function offsetOf(bits: number): number {
  return 2 ** (bits - 1);
}

/**
 * A quantised model update: each signed integer in [-2^(bits-1), 2^(bits-1)) is offset to be
 * non-negative and proved (Prio3SumVec) to lie in [0, 2^bits), an L∞ range check.
 */
export function modelUpdateReport(ints: ArrayLike<number>, params: Omit<ModelUpdateParams, 'kind' | 'length'> & { taskId: Uint8Array }): ShardedReport {
  const task: SecureTask = { taskId: params.taskId, params: { kind: 'model-update', length: ints.length, bits: params.bits, chunkLength: params.chunkLength } };
  const offset = offsetOf(params.bits);
  const shifted = Array.from(ints, (v, i) => {
    if (!Number.isInteger(v) || v < -offset || v >= offset) throw new Error(`update[${i}] = ${v} is outside [${-offset}, ${offset})`);
    return v + offset;
  });
  return shardReport(task, shifted);
}

export function encodeReportMetadata(m: ReportMetadata): Uint8Array {
  if (m.reportId.length !== 16) throw new Error('report id must be 16 bytes');
  return new ByteWriter().bytes(m.reportId).uint64(m.time).opaque(new Uint8Array(0), 2).finish();
}

function readReportMetadata(r: ByteReader): ReportMetadata {
  const reportId = r.bytes(16).slice();
  const time = r.uint64();
  if (r.opaque(2).length !== 0) throw new Error('Silo reports carry no public extensions');
  return { reportId, time };
}

/** DAP's InputShareAad, with Silo's task config standing in for TaskConfiguration. */
export function inputShareAad(task: SecureTask, metadata: ReportMetadata, publicShare: Uint8Array): Uint8Array {
  return new ByteWriter()
    .bytes(task.taskId)
    .opaque(encodeTaskConfig(task), 2)
    .bytes(encodeReportMetadata(metadata))
    .opaque(publicShare, 4)
    .finish();
}

/** DAP's PlaintextInputShare: no private extensions, then the input share. */
export function encodePlaintextInputShare(payload: Uint8Array): Uint8Array {
  return new ByteWriter().opaque(new Uint8Array(0), 2).opaque(payload, 4).finish();
}

export function decodePlaintextInputShare(bytes: Uint8Array): Uint8Array {
  const r = new ByteReader(bytes);
  if (r.opaque(2).length !== 0) throw new Error('Silo input shares carry no private extensions');
  const payload = r.opaque(4);
  r.end();
  return payload;
}

/** Encrypts each input share to its aggregator and frames the upload. */
export async function sealReport(
  sharded: ShardedReport,
  configs: { leader: HpkeConfig; helper: HpkeConfig },
  time = 0n,
): Promise<Uint8Array> {
  const metadata = { reportId: sharded.reportId, time };
  const aad = inputShareAad(sharded.task, metadata, sharded.publicShare);
  const [leaderShare, helperShare] = await Promise.all([
    sealInputShare(configs.leader, 'leader', aad, encodePlaintextInputShare(sharded.leaderInputShare)),
    sealInputShare(configs.helper, 'helper', aad, encodePlaintextInputShare(sharded.helperInputShare)),
  ]);
  return encodeReport({ metadata, publicShare: sharded.publicShare, leaderShare, helperShare });
}

export function encodeReport(report: Report): Uint8Array {
  const w = new ByteWriter().bytes(encodeReportMetadata(report.metadata)).opaque(report.publicShare, 4);
  writeHpkeCiphertext(w, report.leaderShare);
  writeHpkeCiphertext(w, report.helperShare);
  return w.finish();
}

export function decodeReport(bytes: Uint8Array): Report {
  const r = new ByteReader(bytes);
  const metadata = readReportMetadata(r);
  const publicShare = r.opaque(4).slice();
  const leaderShare = readHpkeCiphertext(r);
  const helperShare = readHpkeCiphertext(r);
  r.end();
  return { metadata, publicShare, leaderShare, helperShare };
}

/** What the leader forwards to the helper: everything but the leader's ciphertext (DAP's ReportShare). */
export function encodeReportShare(report: Report): Uint8Array {
  const w = new ByteWriter().bytes(encodeReportMetadata(report.metadata)).opaque(report.publicShare, 4);
  return writeHpkeCiphertext(w, report.helperShare).finish();
}

export function decodeReportShare(bytes: Uint8Array): Omit<Report, 'leaderShare'> {
  const r = new ByteReader(bytes);
  const metadata = readReportMetadata(r);
  const publicShare = r.opaque(4).slice();
  const helperShare = readHpkeCiphertext(r);
  r.end();
  return { metadata, publicShare, helperShare };
}
