import { beforeAll, describe, expect, it } from 'vitest';
import {
  ShareAccumulator,
  beginVerify,
  combineVerifierShares,
  finishVerify,
  openShare,
  unshardModelUpdate,
  unshardPopularity,
} from '../../federated/secure/aggregator.ts';
import { type AggregatorKeyPair, generateAggregatorKeyPair } from '../../federated/secure/hpke.ts';
import {
  type ShardedReport,
  decodeReport,
  decodeReportShare,
  encodeReportShare,
  modelUpdateReport,
  popularityReport,
  sealReport,
} from '../../federated/secure/report.ts';
import type { SecureTask } from '../../federated/secure/task.ts';

let leaderKeys: AggregatorKeyPair;
let helperKeys: AggregatorKeyPair;
const verifyKey = crypto.getRandomValues(new Uint8Array(32));
const taskId = crypto.getRandomValues(new Uint8Array(32));

beforeAll(async () => {
  leaderKeys = await generateAggregatorKeyPair(1);
  helperKeys = await generateAggregatorKeyPair(2);
});

const configs = () => ({ leader: leaderKeys.config, helper: helperKeys.config });

/** Both aggregators process one upload; returns both output shares, or throws if rejected. */
async function processUpload(task: SecureTask, upload: Uint8Array): Promise<bigint[][]> {
  const report = decodeReport(upload);
  const forwarded = decodeReportShare(encodeReportShare(report)); // the leader → helper hop
  const leaderShare = await openShare(task, leaderKeys, 'leader', report);
  const helperShare = await openShare(task, helperKeys, 'helper', forwarded);
  const v0 = beginVerify(task, verifyKey, 'leader', report, leaderShare);
  const v1 = beginVerify(task, verifyKey, 'helper', forwarded, helperShare);
  const message = combineVerifierShares(task, v0.verifierShare, v1.verifierShare);
  return [finishVerify(task, v0.state, message), finishVerify(task, v1.state, message)];
}

describe('secure aggregation round trip through leader and helper', () => {
  it('popularity: N reports sum to the true bucket counts', async () => {
    const params = { taskId, length: 256, maxWeight: 5 };
    const task: SecureTask = { taskId, params: { kind: 'popularity', length: 256, maxWeight: 5 } };
    const acc = [new ShareAccumulator(task), new ShareAccumulator(task)];
    const truth = new Array<number>(256).fill(0);
    for (let i = 0; i < 12; i++) {
      const buckets = new Set(Array.from({ length: 1 + (i % 5) }, () => Math.floor(Math.random() * 256)));
      for (const b of buckets) truth[b] += 1;
      const upload = await sealReport(popularityReport(buckets, params), configs());
      const outs = await processUpload(task, upload);
      acc[0].add(outs[0]);
      acc[1].add(outs[1]);
    }
    expect(unshardPopularity(task, [acc[0].encode(), acc[1].encode()], 12)).toEqual(truth);
  });

  it('model update: signed 8-bit updates sum exactly after removing the offset', async () => {
    const task: SecureTask = { taskId, params: { kind: 'model-update', length: 40, bits: 8 } };
    const acc = [new ShareAccumulator(task), new ShareAccumulator(task)];
    const truth = new Array<number>(40).fill(0);
    for (let i = 0; i < 5; i++) {
      const update = Array.from({ length: 40 }, () => Math.floor(Math.random() * 256) - 128);
      update[0] = i % 2 ? -128 : 127; // the range's ends are valid
      update.forEach((v, j) => (truth[j] += v));
      const outs = await processUpload(task, await sealReport(modelUpdateReport(update, { taskId, bits: 8 }), configs()));
      acc[0].add(outs[0]);
      acc[1].add(outs[1]);
    }
    expect(unshardModelUpdate(task, [acc[0].encode(), acc[1].encode()], 5)).toEqual(truth);
  });

  it('the client refuses values it cannot prove', () => {
    expect(() => popularityReport([1, 2, 3, 4, 5, 6], { taskId, length: 256, maxWeight: 5 })).toThrow(/exceed/);
    expect(() => popularityReport([256], { taskId, length: 256, maxWeight: 5 })).toThrow(/outside/);
    expect(() => modelUpdateReport([128], { taskId, bits: 8 })).toThrow(/outside/);
  });
});
