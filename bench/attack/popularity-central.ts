// The popularity round as it runs today (central mode): the operator's server receives each
// shopper's plain 0/1 bucket indicator. With the public catalog and the bucket hash from the
// client code it names every catalog item whose bucket holds a 1.
import { popularityBucket, popularitySummary } from '../../federated/popularity.ts';
import type { RoundTask } from '../../federated/protocol.ts';
import { decodeSummary } from '../../federated/summary.ts';
import { type ShopperSet, distinctRecent } from './shoppers.ts';
import { AttackScore, entropyBitsPerByte } from './stats.ts';

/** catalog items by bucket: the attacker's lookup table, built from public data only */
export function bucketIndex(catalog: readonly string[], buckets: number): Map<number, string[]> {
  const index = new Map<number, string[]>();
  for (const key of catalog) {
    const b = popularityBucket(key, buckets);
    const list = index.get(b);
    if (list) list.push(key);
    else index.set(b, [key]);
  }
  return index;
}

export interface CentralPopularityResult {
  score: AttackScore;
  /** entropy of the upload bodies the operator read, pooled, and of one body */
  uploadBytes: number;
  uploadEntropy: number;
}

export function centralPopularityAttack(set: ShopperSet, task: RoundTask): CentralPopularityResult {
  const index = bucketIndex(set.catalog, task.length);
  const score = new AttackScore();
  let uploadBytes = 0;
  let entropySum = 0;
  for (const items of set.shoppers) {
    // what the shopper's browser uploads
    const upload = popularitySummary(task, items);
    uploadBytes += upload.length;
    entropySum += entropyBitsPerByte(upload);
    // what the operator does with it
    const { ints } = decodeSummary(upload);
    const named: string[] = [];
    ints.forEach((v, b) => {
      if (v !== 0) named.push(...(index.get(b) ?? []));
    });
    score.add(named, distinctRecent(items, task.maxItems ?? items.length), set.catalog.length);
  }
  return { score, uploadBytes: uploadBytes / set.shoppers.length, uploadEntropy: entropySum / set.shoppers.length };
}
