// Round scheduling: opens rounds (a popularity round when due, else a model round), selects
// clients at check-in, accepts uploads through the upload gate, and closes rounds at their
// cap, their deadline or the operator's word. Exactly one instance closes a round (the
// store's claim); a close that fails is retried by the timer and, after a few failures,
// abandoned with a log line, so a round is never left `closing` for good.
import { randomBytes } from 'node:crypto';
import type { CheckInResponse } from '../../federated/protocol.ts';
import { HttpError } from '../http/respond.ts';
import { RoundQuota } from '../http/rate-limit.ts';
import type { Config } from '../options.ts';
import type { AggregatorStore, OpenRound } from '../store.ts';
import type { RoundCloser } from './closer.ts';
import { modelRound, popularityDue, popularityRound } from './plan.ts';
import { RoundSums } from './round-sum.ts';
import { checkAndClamp, parseUpload } from './upload-gate.ts';

const TOKEN = /^[0-9a-f]{32}$/;
/** close attempts before a round that cannot be closed is abandoned */
const CLOSE_ATTEMPTS = 3;

export type CurrentRound = { round: OpenRound; closing: boolean } | null;

export class RoundScheduler {
  private readonly closes = new Set<Promise<unknown>>();
  private readonly failedCloses = new Map<number, number>();
  private readonly quota: RoundQuota;
  /** when the last round opened (this process's view), for roundIntervalMs */
  private lastOpenedAt = -Infinity;

  constructor(
    private readonly store: AggregatorStore,
    private readonly config: Config,
    private readonly closer: RoundCloser,
    private readonly sums: RoundSums,
    /** re-reads the status snapshot after a change */
    private readonly refresh: () => Promise<unknown>,
    /** counts a round's tasks and uploads in the snapshot without a store round trip */
    private readonly noteCounts: (roundId: number, counts: { selected?: number; accepted?: number }) => void,
  ) {
    this.quota = new RoundQuota(config.edge.tasksPerSourcePerRound);
  }

  /** Restart: the open round's running sum from its log; a round already full closes now. */
  async resume(): Promise<void> {
    const cur = await this.store.currentRound();
    if (!cur) return;
    await this.sums.start(cur.round, true);
    if (!cur.closing && (await this.store.counts(cur.round.id)).accepted >= this.closer.capOf(cur.round)) await this.closeQuietly(cur.round.id);
  }

  /** Closes in progress in this process: "latest" downloads and status wait for them. */
  async settled(): Promise<void> {
    while (this.closes.size) await Promise.allSettled([...this.closes]);
  }

  tracked<T>(p: Promise<T>): Promise<T> {
    this.closes.add(p);
    const done = () => this.closes.delete(p);
    p.then(done, done);
    return p;
  }

  /** Tries to become the round's closer; resolves true if this call produced a release. */
  closeRound(roundId: number): Promise<boolean> {
    return this.tracked(this.closeUntracked(roundId));
  }

  /** As closeRound, but a failure is logged (and retried by the timer) instead of thrown. */
  async closeQuietly(roundId: number): Promise<boolean> {
    try {
      return await this.closeRound(roundId);
    } catch (e) {
      console.error(`aggregator: closing round ${roundId} failed (attempt ${this.failedCloses.get(roundId) ?? 0} of ${CLOSE_ATTEMPTS}):`, e);
      return false;
    }
  }

  private async closeUntracked(roundId: number): Promise<boolean> {
    if (!(await this.store.claimClose(roundId))) return false;
    let produced: boolean;
    const cur = await this.store.currentRound();
    try {
      if (!cur || cur.round.id !== roundId) throw new Error(`round ${roundId} vanished while closing`);
      produced = await this.closer.finish(cur.round);
    } catch (e) {
      const failures = (this.failedCloses.get(roundId) ?? 0) + 1;
      this.failedCloses.set(roundId, failures);
      if (failures < CLOSE_ATTEMPTS) {
        await this.store.abortClose(roundId).catch(() => {});
        throw e;
      }
      // give up: nothing released, no privacy spent; the next round can open
      console.error(`aggregator: abandoning round ${roundId} after ${failures} failed closes:`, e);
      if (cur) await this.closer.abandon(cur.round);
      else await this.store.commitClose(roundId, await this.store.readState(), null, null);
      produced = false;
    }
    this.failedCloses.delete(roundId);
    this.sums.forget(roundId);
    await this.refresh();
    return produced;
  }

  /** The current round, after closing it if its deadline passed. */
  async current(now: number): Promise<CurrentRound> {
    let cur = await this.store.currentRound();
    if (cur && !cur.closing && now >= cur.round.task.deadline) {
      await this.closeQuietly(cur.round.id);
      cur = await this.store.currentRound();
    }
    return cur;
  }

  /** Timer work: deadlines, and closes that crashed or failed (a closing round is taken over once its lease expired). */
  async tick(now: number): Promise<void> {
    const cur = await this.current(now);
    if (cur?.closing) await this.closeQuietly(cur.round.id);
    else await this.refresh();
  }

  /** Runs tick() on a timer (never two at once); stop() waits for a running tick. */
  startTimer(): { stop: () => Promise<void> } {
    let closed = false;
    let ticking = false;
    const timer = setInterval(() => {
      if (ticking || closed) return;
      ticking = true;
      this.tick(this.config.clock())
        .catch((e: unknown) => {
          if (!closed) console.error('aggregator tick:', e);
        })
        .finally(() => (ticking = false));
    }, Math.min(1000, Math.max(50, this.config.roundDurationMs / 4)));
    timer.unref();
    return {
      stop: async () => {
        closed = true;
        clearInterval(timer);
        while (ticking) await new Promise((r) => setTimeout(r, 5));
      },
    };
  }

  private async openRound(now: number): Promise<OpenRound | null> {
    if (now < this.lastOpenedAt + this.config.roundIntervalMs) return null;
    const st = await this.store.readState();
    // the state knows the rounds other instances and earlier processes opened
    this.lastOpenedAt = Math.max(this.lastOpenedAt, st.lastRoundOpenedAt ?? -Infinity);
    if (now < this.lastOpenedAt + this.config.roundIntervalMs) return null;
    const strategy = this.closer.strategies.model;
    strategy.loadState(st.strategy); // another instance may have adapted the clip norm
    const deadline = now + this.config.roundDurationMs;
    const round = await this.store.openRound((id) =>
      popularityDue(this.config.popularity, st, id) ? popularityRound(this.config.popularity!, id, st, deadline) : modelRound(this.config, strategy, id, st, deadline),
    );
    if (round) {
      this.lastOpenedAt = Math.max(this.lastOpenedAt, round.task.deadline - this.config.roundDurationMs);
      await this.sums.start(round, false);
      await this.refresh();
    }
    return round;
  }

  /** A check-in from `source`: a task (Poisson-selected, within the source's quota) or a wait. */
  async checkIn(now: number, source: string): Promise<CheckInResponse & { token?: string }> {
    const cur = await this.current(now);
    const round = cur ? (cur.closing ? null : cur.round) : await this.openRound(now);
    // one draw per shopper per round (the accountant's q): whatever this answer, the client
    // is told not to ask again before the round's deadline
    const untilDeadline = round ? Math.ceil((round.task.deadline - now) / 1000) + 1 : 0;
    const untilNextRound = cur || round ? 0 : Math.ceil((this.lastOpenedAt + this.config.roundIntervalMs - now) / 1000);
    const wait = { status: 'wait' as const, retryAfterSeconds: Math.max(this.config.retryAfterSeconds, untilDeadline, untilNextRound) };
    if (!round || this.config.random() >= this.closer.selectionOf(round)) return wait;
    if (!this.quota.take(round.id, source)) return wait;
    const token = randomBytes(16).toString('hex');
    const selected = await this.store.issueToken(round.id, token, this.closer.capOf(round));
    if (!selected) {
      this.quota.release(round.id, source);
      return wait;
    }
    this.noteCounts(round.id, { selected });
    return { status: 'task', task: round.task, token, retryAfterSeconds: untilDeadline };
  }

  /** Validates and stores one upload; resolves once it is durable. A close it triggers cannot undo the ack. */
  async accept(roundId: number, token: string | undefined, body: Uint8Array, now: number): Promise<void> {
    // the round as last seen (a shared store answers from its cache); whether it is still
    // open is checked atomically by store.accept
    const round = await this.store.roundById(roundId);
    if (round && now >= round.task.deadline) await this.current(now); // closes it
    if (!round || now >= round.task.deadline) throw new HttpError(409, `round ${roundId} is not open`);
    if (!token || !TOKEN.test(token)) throw new HttpError(403, 'unknown upload token for this round');
    const s = parseUpload(body, round);
    // one pass over the values: into the running sum (kept here, or by a store that sums the
    // round itself and then runs the checks) while the norm is computed
    const running = this.sums.tentative(roundId, s.ints);
    const values = { ints: s.ints, withinClip: s.withinClip, checkNorm: (sumSq: number, sum?: Int32Array | Float64Array) => checkAndClamp(s, body, round, sumSq, sum) };
    let r;
    try {
      if (!this.store.sumsRound?.(round)) values.checkNorm(running ? running.sumOfSquares : RoundSums.sumOfSquares(s.ints), running?.sum);
      // atomic in the store: open round, issued unused token → spent + durably stored
      r = await this.store.accept(roundId, token, body, values);
    } catch (e) {
      running?.settle(false, false);
      throw e;
    }
    running?.settle(r.ok, s.withinClip);
    if (!r.ok) {
      if (r.reason === 'not-open') throw new HttpError(409, `round ${roundId} is not open`);
      if (r.reason === 'unknown-token') throw new HttpError(403, 'unknown upload token for this round');
      throw new HttpError(409, 'this client already uploaded a summary in this round');
    }
    this.noteCounts(roundId, { accepted: r.accepted });
    if (r.accepted >= this.closer.capOf(round)) await this.closeQuietly(roundId);
  }
}
