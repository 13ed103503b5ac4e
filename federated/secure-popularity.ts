// A shopper's report for a secure popularity round (server/PROTOCOL.md, "Secure popularity
// rounds"): the buckets of its most recent distinct items as a Prio3MultihotCountVec report,
// the leader's share sealed to the leader's key from the task, the helper's share sealed to
// the key fetched from the helper itself. Shared by the browser worker and the server tests.
import { popularityBucket, recentDistinct } from './popularity.ts';
import type { RoundTask, SecureRoundTask } from './protocol.ts';
import { decodeHpkeConfig } from './secure/hpke.ts';
import { popularityReport, sealReport } from './secure/report.ts';

/** base64url (no padding) to bytes, without Node's Buffer. */
export function fromBase64Url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/**
 * Throws unless the task is a secure popularity task this client can answer; `helperOrigin`
 * (the origin the storefront's embed pinned) must then be the task's helper's origin, so a
 * leader cannot name a helper it runs itself.
 */
export function checkSecureTask(task: RoundTask, helperOrigin?: string): SecureRoundTask {
  const s = task.secure;
  if (task.kind !== 'popularity' || !s) throw new Error('not a secure popularity task');
  if (s.vdaf !== 'Prio3MultihotCountVec') throw new Error(`unknown VDAF ${String(s.vdaf)}`);
  if (!Number.isInteger(s.length) || s.length < 1 || s.length > 2 ** 24) throw new Error(`secure task asks for ${s.length} buckets`);
  if (s.maxWeight !== task.maxItems) throw new Error('secure task and round disagree on the number of items');
  const helper = new URL(s.helperUrl);
  if (helper.protocol !== 'https:' && helper.protocol !== 'http:') throw new Error('helper URL must be http(s)');
  if (helperOrigin && helper.origin !== new URL(helperOrigin).origin) throw new Error(`task names helper ${helper.origin}, this storefront pins ${new URL(helperOrigin).origin}`);
  return s;
}

/** The sealed upload for a secure popularity task; `helperConfig`: the helper's encoded HPKE config. */
export async function sealedPopularityReport(task: RoundTask, itemKeys: readonly string[], helperConfig: Uint8Array, helperOrigin?: string): Promise<Uint8Array> {
  const s = checkSecureTask(task, helperOrigin);
  const buckets = recentDistinct(itemKeys, s.maxWeight).map((key) => popularityBucket(key, s.length));
  const sharded = popularityReport(buckets, { taskId: fromBase64Url(s.taskId), length: s.length, maxWeight: s.maxWeight, chunkLength: s.chunkLength });
  return sealReport(sharded, { leader: decodeHpkeConfig(fromBase64Url(s.leaderHpkeConfig)), helper: decodeHpkeConfig(helperConfig) });
}
