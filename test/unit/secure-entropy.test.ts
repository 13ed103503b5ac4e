import { beforeAll, describe, expect, it } from 'vitest';
import { openShare } from '../../federated/secure/aggregator.ts';
import { type AggregatorKeyPair, generateAggregatorKeyPair } from '../../federated/secure/hpke.ts';
import { decodeReport, decodeReportShare, encodeReportShare, popularityReport, sealReport } from '../../federated/secure/report.ts';
import type { SecureTask } from '../../federated/secure/task.ts';
import { concatBytes } from '../../federated/vdaf/xof.ts';
import { entropyBitsPerByte } from '../../bench/attack/stats.ts';

let leaderKeys: AggregatorKeyPair;
let helperKeys: AggregatorKeyPair;
const taskId = crypto.getRandomValues(new Uint8Array(32));

beforeAll(async () => {
  leaderKeys = await generateAggregatorKeyPair(1);
  helperKeys = await generateAggregatorKeyPair(2);
});

describe('what each aggregator receives looks uniformly random', () => {
  it('the leader: a large popularity upload, and even its own decrypted share', async () => {
    // A shopper with 12 viewed items over 16,384 buckets: the plain vector would be ~all zeros.
    const length = 16_384;
    const task: SecureTask = { taskId, params: { kind: 'popularity', length, maxWeight: 20 } };
    const buckets = Array.from({ length: 12 }, (_, i) => i * 1000 + 7);
    const upload = await sealReport(popularityReport(buckets, { taskId, length, maxWeight: 20 }), {
      leader: leaderKeys.config,
      helper: helperKeys.config,
    });
    expect(upload.length).toBeGreaterThan(length * 16);
    expect(entropyBitsPerByte(upload)).toBeGreaterThanOrEqual(7.99);
    const share = await openShare(task, leaderKeys, 'leader', decodeReport(upload));
    if (share.kind !== 'leader') throw new Error('expected the leader share');
    const plainMeasShareBytes = new Uint8Array(share.measShare.length * 16);
    const view = new DataView(plainMeasShareBytes.buffer);
    share.measShare.forEach((x, i) => {
      view.setBigUint64(16 * i, x & 0xffffffffffffffffn, true);
      view.setBigUint64(16 * i + 8, x >> 64n, true);
    });
    expect(entropyBitsPerByte(plainMeasShareBytes)).toBeGreaterThanOrEqual(7.99);
  });

  it('the helper: the report shares the leader forwards, over a batch of reports', async () => {
    const length = 64;
    const forwarded: Uint8Array[] = [];
    for (let i = 0; i < 400; i++) {
      const upload = await sealReport(popularityReport([i % length], { taskId, length, maxWeight: 2 }), {
        leader: leaderKeys.config,
        helper: helperKeys.config,
      });
      forwarded.push(encodeReportShare(decodeReport(upload)));
    }
    const all = concatBytes(forwarded);
    // Every byte but DAP's fixed framing (length prefixes, the round-rounded time) is random;
    // over a large batch the framing is a small fixed share of the bytes.
    const h = entropyBitsPerByte(all);
    expect(h).toBeGreaterThan(7.5);
    // Drop the framing to measure the variable content: report id, public share, enc, payload.
    const content = forwarded.map((b) => {
      const r = decodeReportShare(b);
      return concatBytes([r.metadata.reportId, r.publicShare, r.helperShare.enc, r.helperShare.payload]);
    });
    expect(entropyBitsPerByte(concatBytes(content))).toBeGreaterThanOrEqual(7.99);
  });
});
