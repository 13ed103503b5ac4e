// The popularity prior: a user-level differentially private count of how many shoppers
// recently touched each catalog item, released by the server after a 'popularity' round.
//
// In such a round each selected shopper uploads an indicator vector over hash buckets of
// item ids: 1 for each bucket holding one of their `maxItems` most recent distinct items,
// 0 elsewhere, so one shopper changes the sum by at most √maxItems in L2 (the sensitivity
// the server's Gaussian noise is calibrated to). The server adds the noise to the sum and
// publishes it; recommenders add weight · log(1 + count) to their model scores. On Beauty it
// lifts a DP-trained model and does nothing for a centrally trained one, which has learnt
// popularity already (BENCHMARKS.md).
// Items are hashed, not indexed, so the server needs no copy of the catalog and the vector
// keeps its length when the catalog changes.
// Shared by the browser worker, the server's tests and the federated benchmark.
import { hash32 } from '../models/features.ts';
import type { RoundTask } from './protocol.ts';
import { encodeSummary } from './summary.ts';

/** hash seed of the popularity buckets (any fixed value; distinct from the model's id hashes) */
const POPULARITY_SEED = 0x706f70;

export function popularityBucket(itemKey: string, buckets: number): number {
  return hash32(itemKey, POPULARITY_SEED) % buckets;
}

/** The `maxItems` most recent distinct entries of a sequence in time order, most recent first. */
export function recentDistinct<T>(sequence: readonly T[], maxItems: number): T[] {
  const seen = new Set<T>();
  for (let i = sequence.length - 1; i >= 0 && seen.size < maxItems; i--) seen.add(sequence[i]);
  return [...seen];
}

/** 1 in the bucket of each of the most recent `maxItems` distinct items (L2 norm ≤ √maxItems). */
export function popularityIndicator(itemKeys: readonly string[], buckets: number, maxItems: number): Int8Array {
  const v = new Int8Array(buckets);
  for (const key of recentDistinct(itemKeys, maxItems)) v[popularityBucket(key, buckets)] = 1;
  return v;
}

/**
 * The summary a shopper uploads for a popularity task: the indicator of `itemKeys` (the
 * shopper's item sequence in time order), as exact 8-bit integers at scale 1. Nothing is
 * noised here: popularity rounds use central noise (the server adds it to the sum).
 */
export function popularitySummary(task: RoundTask, itemKeys: readonly string[]): Uint8Array {
  if (task.kind !== 'popularity' || !task.maxItems) throw new Error('not a popularity task');
  if (task.bits !== 8 || task.scale !== 1) throw new Error(`popularity summaries are 8-bit at scale 1, task asks ${task.bits}-bit at ${task.scale}`);
  // the server allows at most 2^24 buckets; a task asking for more is not one it sent
  if (!Number.isInteger(task.length) || task.length < 1 || task.length > 2 ** 24) throw new Error(`popularity task asks for ${task.length} buckets`);
  const ints = popularityIndicator(itemKeys, task.length, task.maxItems);
  return encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: 1 }, ints);
}

/** The released counts, as the additive score recommenders use: weight · log(1 + max(0, count)). */
export class PopularityPrior {
  constructor(
    readonly counts: Float32Array,
    readonly weight: number,
    readonly version: number,
  ) {}

  /** what the prior adds to an item's model score */
  boost(itemKey: string): number {
    const c = this.counts[popularityBucket(itemKey, this.counts.length)];
    return this.weight * Math.log1p(Math.max(0, c));
  }
}
