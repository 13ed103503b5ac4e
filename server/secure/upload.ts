// POST /fl/v1/rounds/:id/report: a shopper's sealed report for a secure popularity round.
// Same round and token rules as a summary upload (server/rounds/scheduler.ts): the round is
// open, the token was issued for it and is spent by this upload; the leader's half of its
// verification is stored durably before the 202. Whether its proof holds is decided later,
// with the helper, when the round closes.
import type { Config } from '../options.ts';
import { HttpError } from '../http/respond.ts';
import type { RoundScheduler } from '../rounds/scheduler.ts';
import type { AggregatorStore, UploadValues } from '../store.ts';
import type { SecureLeader } from './leader.ts';

const TOKEN = /^[0-9a-f]{32}$/;

/** A report carries no plain values: nothing for a store to sum or norm-check. */
const NO_VALUES: UploadValues = { ints: new Int8Array(0), withinClip: true, checkNorm: (sumOfSquares) => sumOfSquares };

export async function acceptReport(
  deps: { config: Config; store: AggregatorStore; scheduler: RoundScheduler; leader: SecureLeader },
  roundId: number,
  token: string | undefined,
  body: Uint8Array,
): Promise<void> {
  const { config, store, scheduler, leader } = deps;
  const now = config.clock();
  const round = await store.roundById(roundId);
  if (round && now >= round.task.deadline) await scheduler.current(now); // closes it
  if (!round || now >= round.task.deadline) throw new HttpError(409, `round ${roundId} is not open`);
  if (!round.task.secure) throw new HttpError(409, `round ${roundId} takes summaries, not sealed reports`);
  if (!token || !TOKEN.test(token)) throw new HttpError(403, 'unknown upload token for this round');
  const prepared = await leader.prepareReport(round.task.secure, body);
  const r = await store.accept(roundId, token, prepared, NO_VALUES);
  if (!r.ok) {
    if (r.reason === 'not-open') throw new HttpError(409, `round ${roundId} is not open`);
    if (r.reason === 'unknown-token') throw new HttpError(403, 'unknown upload token for this round');
    throw new HttpError(409, 'this client already uploaded in this round');
  }
  if (r.accepted >= (round.maxParticipants ?? Infinity)) await scheduler.closeQuietly(roundId);
}
