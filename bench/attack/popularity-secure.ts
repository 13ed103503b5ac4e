// The popularity round in secure mode: each shopper's report is sharded with
// Prio3MultihotCountVec and sealed to both aggregators; the two run the real verification
// exchange. Everything the leader and the helper can read is collected per shopper and
// attacked (share-attacks.ts), and its byte entropy measured.
import { beginVerify, combineVerifierShares, finishVerify, openShare } from '../../federated/secure/aggregator.ts';
import { type AggregatorKeyPair, generateAggregatorKeyPair, openInputShare } from '../../federated/secure/hpke.ts';
import {
  decodePlaintextInputShare,
  decodeReport,
  decodeReportShare,
  encodeReportShare,
  inputShareAad,
  popularityReport,
  sealReport,
} from '../../federated/secure/report.ts';
import { type SecureTask, vdafContext, vdafOf } from '../../federated/secure/task.ts';
import { popularityBucket } from '../../federated/popularity.ts';
import { EntropyMeter } from './entropy-meter.ts';
import { bucketIndex } from './popularity-central.ts';
import { ShareAttackScores } from './share-attacks.ts';
import { type ShopperSet, distinctRecent } from './shoppers.ts';

export interface SecurePopularityOptions {
  buckets: number;
  maxItems: number;
  /** per-bucket rate of the threshold attack; default: mean items per shopper / catalog size */
  flagRate?: number;
}

export interface SecurePopularityResult {
  leader: ShareAttackScores;
  helper: ShareAttackScores;
  entropy: EntropyMeter;
  /** every report verified and was accepted by both (the run used real, valid reports) */
  accepted: number;
  secondsPerShopper: number;
}

const PUBLIC_SHARE_AS_SEED = 'public share as helper seed';

/** Report bytes that are not drawn at random: time, extension and length prefixes, config ids. */
function framingOf(total: number, ...content: Uint8Array[]): number {
  return total - content.reduce((n, c) => n + c.length, 0);
}

async function plaintextOf(task: SecureTask, keys: AggregatorKeyPair, role: 'leader' | 'helper', report: ReturnType<typeof decodeReport> | ReturnType<typeof decodeReportShare>): Promise<Uint8Array> {
  const ct = role === 'leader' ? (report as ReturnType<typeof decodeReport>).leaderShare : report.helperShare;
  return openInputShare(keys, role, inputShareAad(task, report.metadata, report.publicShare), ct);
}

export async function securePopularityAttack(set: ShopperSet, options: SecurePopularityOptions): Promise<SecurePopularityResult> {
  const taskId = crypto.getRandomValues(new Uint8Array(32));
  const task: SecureTask = { taskId, params: { kind: 'popularity', length: options.buckets, maxWeight: options.maxItems } };
  const vdaf = vdafOf(task);
  const ctxBytes = vdafContext(task);
  const [leaderKeys, helperKeys] = await Promise.all([generateAggregatorKeyPair(1), generateAggregatorKeyPair(2)]);
  const verifyKey = crypto.getRandomValues(new Uint8Array(vdaf.verifyKeySize));
  const index = bucketIndex(set.catalog, options.buckets);
  const meanItems = set.shoppers.reduce((n, s) => n + distinctRecent(s, options.maxItems).size, 0) / set.shoppers.length;
  const attackCtx = { modulus: vdaf.field.modulus, buckets: options.buckets, index, flagRate: options.flagRate ?? meanItems / set.catalog.length };
  const leader = new ShareAttackScores();
  const helper = new ShareAttackScores();
  const entropy = new EntropyMeter();
  let accepted = 0;
  const started = performance.now();

  for (const items of set.shoppers) {
    const buckets = [...distinctRecent(items, options.maxItems)].map((key) => popularityBucket(key, options.buckets));
    const upload = await sealReport(popularityReport(buckets, { taskId, length: options.buckets, maxWeight: options.maxItems }), { leader: leaderKeys.config, helper: helperKeys.config });

    // the leader: the upload, its own decrypted share
    const report = decodeReport(upload);
    const leaderShare = await openShare(task, leaderKeys, 'leader', report);
    if (leaderShare.kind !== 'leader') throw new Error('expected the leader share');
    const leaderPlain = await plaintextOf(task, leaderKeys, 'leader', report);
    // the helper: what the leader forwards, its decrypted seed, the share it expands
    const forwarded = encodeReportShare(report);
    const share = decodeReportShare(forwarded);
    const helperShare = await openShare(task, helperKeys, 'helper', share);
    if (helperShare.kind !== 'helper') throw new Error('expected the helper share');
    const helperPlain = await plaintextOf(task, helperKeys, 'helper', share);
    const helperMeas = vdaf.helperMeasShare(ctxBytes, 1, helperShare.seed);

    // the verification exchange: each sees the other's verifier share and the message
    const v0 = beginVerify(task, verifyKey, 'leader', report, leaderShare);
    const v1 = beginVerify(task, verifyKey, 'helper', share, helperShare);
    const message = combineVerifierShares(task, v0.verifierShare, v1.verifierShare);
    finishVerify(task, v0.state, message);
    finishVerify(task, v1.state, message);
    accepted += 1;

    const actual = distinctRecent(items, options.maxItems);
    leader.add(leaderShare.measShare, items, options.maxItems, attackCtx, set.catalog.length);
    helper.add(helperMeas, items, options.maxItems, attackCtx, set.catalog.length);
    // the leader tries the public share's seeds as if one were the helper's seed
    const parts = [report.publicShare.subarray(0, 32), report.publicShare.subarray(32, 64)];
    const named: string[] = [];
    for (const part of parts) {
      const guess = vdaf.helperMeasShare(ctxBytes, 1, part);
      for (const [b, keys] of index) {
        const x = vdaf.field.add(leaderShare.measShare[b], guess[b]);
        if (x === 0n || x === 1n) named.push(...keys);
      }
    }
    leader.extra(PUBLIC_SHARE_AS_SEED).add(new Set(named), actual, set.catalog.length);

    const body = decodePlaintextInputShare(leaderPlain);
    entropy.add('upload (whole body)', 'leader', upload, 0);
    entropy.add('upload, framing removed', 'leader', concat(report.metadata.reportId, report.publicShare, report.leaderShare.enc, report.leaderShare.payload, report.helperShare.enc, report.helperShare.payload),
      framingOf(upload.length, report.metadata.reportId, report.publicShare, report.leaderShare.enc, report.leaderShare.payload, report.helperShare.enc, report.helperShare.payload));
    entropy.add('leader input share (decrypted)', 'leader', body, leaderPlain.length - body.length);
    entropy.add('public share', 'leader + helper', report.publicShare);
    entropy.add('forwarded report share, framing removed', 'helper', concat(share.metadata.reportId, share.publicShare, share.helperShare.enc, share.helperShare.payload),
      framingOf(forwarded.length, share.metadata.reportId, share.publicShare, share.helperShare.enc, share.helperShare.payload));
    entropy.add('helper input share (decrypted seed + blind)', 'helper', decodePlaintextInputShare(helperPlain), 6);
    entropy.add('helper share expanded (XOF)', 'helper', vdaf.field.encodeVec(helperMeas));
    entropy.add('helper verifier share', 'leader', v1.verifierShare);
    entropy.add('leader verifier share', 'helper', v0.verifierShare);
    entropy.add('verifier message', 'leader + helper', message);
  }
  return { leader, helper, entropy, accepted, secondsPerShopper: (performance.now() - started) / 1000 / set.shoppers.length };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export { PUBLIC_SHARE_AS_SEED };
