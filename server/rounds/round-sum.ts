// The one round-sum interface: the integer sum of a round's accepted uploads, wherever it
// is kept. Three places today: the running sum this process keeps for an exclusive store
// (one pass per upload, nothing to re-read at close), the per-instance partial sums a
// shared store keeps, or the stored summaries read back a few at a time. A secure-
// aggregation leader is a fourth: its sum of shares plus the helper's.
import { HEADER_BYTES } from '../../federated/summary.ts';
import { RunningSum, sumOfSquares } from '../running-sum.ts';
import type { AggregatorStore, OpenRound } from '../store.ts';
import { clampUpload } from './clamp.ts';
import type { CollectedUpdates, QuantizedValues, SummedUpdates } from '../strategies/types.ts';
import { quantizedView } from '../summary-view.ts';

/** Integers summed at one scale: value = sum / scale. */
export interface IntegerSum {
  sum: Int32Array | Float64Array;
  scale: number;
  count: number;
  withinClip: number;
}

/** Re-checks a stored upload before it counts (stored data is not trusted blindly); false: leave it out. */
export type StoredCheck = (round: OpenRound, view: ReturnType<typeof quantizedView>, sumOfSquares: number) => boolean;

export function decodeSum(total: IntegerSum): SummedUpdates {
  const sum = new Float64Array(total.sum.length);
  const inv = 1 / total.scale;
  for (let i = 0; i < sum.length; i++) sum[i] = total.sum[i] * inv;
  return { sum, count: total.count, withinClip: total.withinClip, noiseStd: 0 };
}

/**
 * What a round's close reads its uploads through. RoundSums serves the single-aggregator
 * deployments; a secure-aggregation leader would serve its sum of shares plus the helper's.
 */
export interface RoundSumSource {
  integerSum(round: OpenRound): Promise<IntegerSum>;
  collected(round: OpenRound): Promise<CollectedUpdates>;
}

export class RoundSums implements RoundSumSource {
  private running: RunningSum | null = null;

  constructor(private readonly store: AggregatorStore, private readonly capOf: (round: OpenRound) => number, private readonly check: StoredCheck) {}

  /** A round whose uploads this process sums as they arrive (exclusive store, sum strategy). */
  private keepsRunning(round: OpenRound): boolean {
    return this.store.exclusive && (round.keep ?? 'summaries') === 'sum';
  }

  /** Starts the round's running sum; `replay` (a restart): every stored upload back into it, re-checked. */
  async start(round: OpenRound, replay: boolean): Promise<void> {
    if (!this.keepsRunning(round) || this.running?.roundId === round.id) return;
    const rs = new RunningSum(round.id, Math.fround(round.task.scale), round.task.length, this.capOf(round), round.task.bits);
    this.running = rs; // set before any await, so concurrent check-ins share it
    if (!replay) return;
    for await (const bytes of this.store.summaries(round.id)) {
      const v = quantizedView(bytes);
      const q = rs.add(v.ints);
      if (this.check(round, v, q)) {
        clampUpload(round, v.ints, q, rs.sum); // uploads stored before the server clamped are held to C too
        rs.commit(v.withinClip);
      } else rs.undo(v.ints);
    }
  }

  /**
   * Adds an upload's values to the round's running sum (if this process keeps one) and
   * returns Σ q²; settle() it with the store's answer. Null: this process keeps no sum for it.
   */
  tentative(roundId: number, ints: QuantizedValues): { sumOfSquares: number; sum: Int32Array | Float64Array; settle: (accepted: boolean, withinClip: boolean) => void } | null {
    const rs = this.running?.roundId === roundId ? this.running : null;
    if (!rs) return null;
    const q = rs.add(ints);
    return { sumOfSquares: q, sum: rs.sum, settle: (accepted, withinClip) => (accepted ? rs.commit(withinClip) : rs.undo(ints)) };
  }

  static sumOfSquares(ints: QuantizedValues): number {
    return sumOfSquares(ints);
  }

  forget(roundId: number): void {
    if (this.running?.roundId === roundId) this.running = null;
  }

  /** The round's integer sum, from wherever it is kept. */
  async integerSum(round: OpenRound): Promise<IntegerSum> {
    const scale = Math.fround(round.task.scale);
    const rs = this.running?.roundId === round.id ? this.running : null;
    if (rs) await rs.drained(); // uploads between their add and their durable write settle first
    if (rs && rs.count === (await this.store.counts(round.id)).accepted) return { sum: rs.sum, scale: rs.scale, count: rs.count, withinClip: rs.withinClip };
    // a shared store's round: the instances' partial sums, added up (a few model-sized vectors)
    if (round.keep === 'sum' && this.store.roundSum) return { ...(await this.store.roundSum(round.id)), scale };
    const sum = new RunningSum(round.id, scale, round.task.length, this.capOf(round), round.task.bits);
    for await (const v of this.views(round)) {
      const q = sum.add(v.ints);
      if (this.check(round, v, q)) {
        clampUpload(round, v.ints, q, sum.sum);
        sum.commit(v.withinClip);
      } else sum.undo(v.ints);
    }
    return { sum: sum.sum, scale: sum.scale, count: sum.count, withinClip: sum.withinClip };
  }

  /** Every accepted upload of the round, decoded (order-statistic strategies). */
  async collected(round: OpenRound): Promise<CollectedUpdates> {
    const updates: Float32Array[] = [];
    let withinClip = 0;
    for await (const v of this.views(round)) {
      const q = sumOfSquares(v.ints);
      if (!this.check(round, v, q)) continue;
      clampUpload(round, v.ints, q);
      const out = new Float32Array(v.ints.length);
      const inv = 1 / v.scale;
      for (let i = 0; i < out.length; i++) out[i] = v.ints[i] * inv;
      updates.push(out);
      if (v.withinClip) withinClip++;
    }
    return { updates, withinClip };
  }

  /** The stored summaries as views; word-aligned values take the fast path, so unaligned ones are copied into scratch. */
  private async *views(round: OpenRound): AsyncIterable<ReturnType<typeof quantizedView>> {
    const scratch = new Uint8Array(HEADER_BYTES + round.task.length * 4);
    for await (const stored of this.store.summaries(round.id)) {
      const bytes = stored.byteOffset % 4 === 0 ? stored : scratch.subarray(0, stored.length);
      if (bytes !== stored) bytes.set(stored);
      yield quantizedView(bytes);
    }
  }
}
