// The helper's half of verifying one report (Prio3 verify_init on its seed share, combined
// with the leader's verifier share), plus the leader's joint-randomness check done here too:
// the helper commits a report only if BOTH aggregators' verify_next will accept it, so a
// client that lies about one aggregator's joint-randomness part cannot make the two
// aggregate shares disagree.
import { beginVerify, combineVerifierShares, finishVerify, openShare } from '../../federated/secure/aggregator.ts';
import type { AggregatorKeyPair } from '../../federated/secure/hpke.ts';
import { decodeReportShare } from '../../federated/secure/report.ts';
import { type SecureTask, vdafContext, vdafOf } from '../../federated/secure/task.ts';
import { decodePublicShare, decodeVerifierShare } from '../../federated/vdaf/codec.ts';

export class Rejection extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The joint-randomness seed the leader's verify_next will compare the message with. */
function leaderCorrectedSeed(task: SecureTask, publicShare: Uint8Array, leaderVerifierShare: Uint8Array): Uint8Array | null {
  const vdaf = vdafOf(task);
  if (!vdaf.usesJointRand) return null;
  const parts = decodePublicShare(vdaf, publicShare)!;
  const leaderPart = decodeVerifierShare(vdaf, leaderVerifierShare).jointRandPart!;
  return vdaf.jointRandSeed(vdafContext(task), [leaderPart, ...parts.slice(1)]);
}

/** Verifies one forwarded report; returns its output share and the verifier message, or throws a Rejection. */
export async function helperVerify(
  task: SecureTask,
  keys: AggregatorKeyPair,
  verifyKey: Uint8Array,
  reportShare: Uint8Array,
  leaderVerifierShare: Uint8Array,
): Promise<{ reportId: Uint8Array; outShare: bigint[]; message: Uint8Array }> {
  let report;
  try {
    report = decodeReportShare(reportShare);
  } catch {
    throw new Rejection('invalid_message');
  }
  let input;
  try {
    input = await openShare(task, keys, 'helper', report);
  } catch {
    throw new Rejection('hpke_decrypt_error');
  }
  let start, message;
  try {
    start = beginVerify(task, verifyKey, 'helper', report, input);
    message = combineVerifierShares(task, leaderVerifierShare, start.verifierShare);
  } catch {
    throw new Rejection('verify_failed');
  }
  let outShare;
  try {
    outShare = finishVerify(task, start.state, message);
    // the message is a seed (null only for VDAFs without joint randomness): the leader's own check
    const leaderSeed = leaderCorrectedSeed(task, report.publicShare, leaderVerifierShare);
    if (leaderSeed && !bytesEqual(leaderSeed, message)) throw new Error('leader would reject');
  } catch {
    throw new Rejection('joint_rand_mismatch');
  }
  return { reportId: report.metadata.reportId, outShare, message };
}
