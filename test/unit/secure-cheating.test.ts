import { beforeAll, describe, expect, it } from 'vitest';
import { beginVerify, combineVerifierShares, openShare } from '../../federated/secure/aggregator.ts';
import { type AggregatorKeyPair, generateAggregatorKeyPair } from '../../federated/secure/hpke.ts';
import { type ShardedReport, decodeReport, decodeReportShare, encodeReport, encodeReportShare, sealReport } from '../../federated/secure/report.ts';
import { type SecureTask, vdafContext, vdafOf } from '../../federated/secure/task.ts';
import { encodeInputShare, encodePublicShare } from '../../federated/vdaf/codec.ts';

let leaderKeys: AggregatorKeyPair;
let helperKeys: AggregatorKeyPair;
const verifyKey = crypto.getRandomValues(new Uint8Array(32));
const taskId = crypto.getRandomValues(new Uint8Array(32));
const popularity: SecureTask = { taskId, params: { kind: 'popularity', length: 128, maxWeight: 4 } };
const modelUpdate: SecureTask = { taskId, params: { kind: 'model-update', length: 16, bits: 8 } };

beforeAll(async () => {
  leaderKeys = await generateAggregatorKeyPair(7);
  helperKeys = await generateAggregatorKeyPair(9);
});

/** A malicious client: shards an arbitrary encoded vector, optionally corrupting the leader's proof. */
function cheatingReport(task: SecureTask, encoded: bigint[], corruptProof = false): ShardedReport {
  const vdaf = vdafOf(task);
  const reportId = crypto.getRandomValues(new Uint8Array(16));
  const rand = crypto.getRandomValues(new Uint8Array(vdaf.randSize));
  const { publicShare, inputShares } = vdaf.shardEncoded(vdafContext(task), encoded, reportId, rand);
  const leader = inputShares[0];
  if (corruptProof && leader.kind === 'leader') leader.proofsShare[2] = vdaf.field.add(leader.proofsShare[2], 1n);
  return {
    task,
    reportId,
    publicShare: encodePublicShare(vdaf, publicShare),
    leaderInputShare: encodeInputShare(vdaf, leader),
    helperInputShare: encodeInputShare(vdaf, inputShares[1]),
  };
}

/** Runs both aggregators; returns what each one saw of the measurement and whether it was accepted. */
async function judge(task: SecureTask, sharded: ShardedReport) {
  const upload = await sealReport(sharded, { leader: leaderKeys.config, helper: helperKeys.config });
  const report = decodeReport(upload);
  const forwarded = decodeReportShare(encodeReportShare(report));
  const s0 = await openShare(task, leaderKeys, 'leader', report);
  const s1 = await openShare(task, helperKeys, 'helper', forwarded);
  const v0 = beginVerify(task, verifyKey, 'leader', report, s0);
  const v1 = beginVerify(task, verifyKey, 'helper', forwarded, s1);
  let accepted = true;
  try {
    combineVerifierShares(task, v0.verifierShare, v1.verifierShare);
  } catch (e) {
    expect(String(e)).toMatch(/Prio3: /);
    accepted = false;
  }
  return { accepted, leaderShare: s0, helperShare: s1 };
}

function popularityEncoding(ones: number[], claimedWeight: number): bigint[] {
  const vdaf = vdafOf(popularity);
  const honest = vdaf.flp.encode(Array.from({ length: 128 }, (_, i) => i < claimedWeight));
  const encoded = honest.slice();
  for (let i = 0; i < 128; i++) encoded[i] = BigInt(ones[i] ?? 0);
  return encoded;
}

describe('the aggregators reject cheating clients without seeing the vector', () => {
  it('accepts an honest vote (control)', async () => {
    const ones = new Array<number>(128).fill(0);
    ones[3] = ones[90] = 1;
    expect((await judge(popularity, cheatingReport(popularity, popularityEncoding(ones, 2)))).accepted).toBe(true);
  });

  it('rejects a bucket holding 2 (weight claim consistent)', async () => {
    const ones = new Array<number>(128).fill(0);
    ones[3] = 2; // sum 2, claimed weight 2: only the 0/1 range check can catch it
    const verdict = await judge(popularity, cheatingReport(popularity, popularityEncoding(ones, 2)));
    expect(verdict.accepted).toBe(false);
    // Neither aggregator's share reveals the vector: the leader's looks uniform, the helper holds a seed.
    const leader = verdict.leaderShare;
    if (leader.kind !== 'leader') throw new Error('expected the leader share');
    const small = leader.measShare.slice(0, 128).filter((x) => x < 3n).length;
    expect(small).toBe(0);
    expect(verdict.helperShare.kind).toBe('helper');
  });

  it('rejects more ones than maxWeight, whatever weight it claims', async () => {
    const ones = new Array<number>(128).fill(0);
    for (const i of [1, 20, 40, 60, 80]) ones[i] = 1; // 5 > maxWeight 4
    for (const claimed of [4, 3]) {
      expect((await judge(popularity, cheatingReport(popularity, popularityEncoding(ones, claimed)))).accepted).toBe(false);
    }
  });

  it('rejects a valid vector with a corrupted proof', async () => {
    const ones = new Array<number>(128).fill(0);
    ones[5] = 1;
    expect((await judge(popularity, cheatingReport(popularity, popularityEncoding(ones, 1), true))).accepted).toBe(false);
  });

  it('rejects a model update outside the 8-bit range', async () => {
    const vdaf = vdafOf(modelUpdate);
    const encoded = vdaf.flp.encode(new Array<number>(16).fill(128));
    encoded[9] = 2n; // a "bit" of 2 lets the element exceed 255
    expect((await judge(modelUpdate, cheatingReport(modelUpdate, encoded))).accepted).toBe(false);
  });

  it('refuses to decrypt a tampered ciphertext or a report replayed into another task', async () => {
    const ones = new Array<number>(128).fill(0);
    const sharded = cheatingReport(popularity, popularityEncoding(ones, 0));
    const report = decodeReport(await sealReport(sharded, { leader: leaderKeys.config, helper: helperKeys.config }));
    const tampered = decodeReport(encodeReport(report));
    tampered.leaderShare.payload[10] ^= 1;
    await expect(openShare(popularity, leaderKeys, 'leader', tampered)).rejects.toThrow(/hpke_decrypt_error/);
    const otherTask: SecureTask = { taskId: new Uint8Array(32), params: popularity.params };
    await expect(openShare(otherTask, leaderKeys, 'leader', report)).rejects.toThrow(/hpke_decrypt_error/);
    await expect(openShare(popularity, helperKeys, 'helper', { ...report, helperShare: report.leaderShare })).rejects.toThrow(
      /hpke_decrypt_error/,
    );
  });
});
