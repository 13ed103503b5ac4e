// Recommendations without the model: in-stock items by the federated popularity prior, else
// in the storefront's own order. The cold start (no history yet) and the fallback when the
// model is out of memory (workers/memory.ts) both serve these; no tensor is touched.
import type { CatalogItem } from '../src/catalog.ts';
import type { PopularityPrior } from '../federated/popularity.ts';
import type { ItemTable } from '../models/features.ts';

export interface PopularPick {
  item: CatalogItem;
  score: number;
  reason: string;
  /** placed by the popularity prior with a count clear of its noise (else by the shop's order) */
  popular?: boolean;
}

export interface Boosts {
  byIndex: Float64Array;
  /** the boost above which an item is called popular */
  popularAbove: number;
}

export class PopularPicks {
  private popularity: PopularityPrior | null = null;
  /** the prior's boost per table index, computed once per prior */
  private boosts: Boosts | null = null;

  constructor(
    private readonly catalog: readonly CatalogItem[],
    private readonly table: ItemTable,
  ) {}

  setPopularity(prior: PopularityPrior | null): void {
    this.popularity = prior;
    this.boosts = null;
  }

  popularityBoosts(): Boosts | null {
    if (!this.popularity) return null;
    if (!this.boosts) {
      const prior = this.popularity;
      // hashing every key per call would not be free: once per prior
      const byIndex = Float64Array.from(this.table.keys, (key, i) => (i === 0 ? 0 : prior.boost(key)));
      this.boosts = { byIndex, popularAbove: prior.weight * Math.log1p(noiseFloor(prior.counts)) };
    }
    return this.boosts;
  }

  /**
   * The top k in-stock items not excluded (by item_id or table index): by the popularity prior
   * when there is one (ties, such as items it gives nothing, keep the storefront's own order),
   * else that order.
   */
  pick(k: number, exclude: ReadonlySet<string> = new Set(), excludeIndices: ReadonlySet<number> = new Set()): PopularPick[] {
    const prior = this.popularityBoosts();
    const boosts = prior?.byIndex;
    const candidates: { index: number; score: number }[] = [];
    for (let i = 1; i < this.table.size && (boosts || candidates.length < k); i++) {
      const item = this.catalog[i - 1];
      if (item.in_stock === false || exclude.has(item.item_id) || excludeIndices.has(i)) continue;
      insertTopK(candidates, { index: i, score: boosts ? boosts[i] : 0 }, k);
    }
    return candidates.map((c) => {
      const item = this.catalog[c.index - 1];
      // "popular" only where the count stands clear of the release's noise
      const popular = !!prior && c.score > prior.popularAbove;
      return popular ? { item, score: c.score, reason: 'Popular right now', popular } : { item, score: c.score, reason: coldReason(item) };
    });
  }
}

/**
 * 4σ of a popularity release's Gaussian noise, σ estimated from the median |count| (0.6745σ
 * for pure noise): most buckets hold no item, and a release carries no noise scale. Above it
 * a count is real with high probability; below it the prior's order is mostly noise.
 */
function noiseFloor(counts: Float32Array): number {
  if (counts.length === 0) return 0;
  const magnitudes = Float32Array.from(counts, Math.abs).sort();
  return (4 * magnitudes[magnitudes.length >> 1]) / 0.6745;
}

function coldReason(item: CatalogItem): string {
  return item.item_category ? `Featured in ${item.item_category}` : 'Featured in our catalog';
}

/** Keeps `list` as the k best by score, descending (k is small: insertion is fine). */
export function insertTopK(list: { index: number; score: number }[], entry: { index: number; score: number }, k: number): void {
  if (list.length === k && entry.score <= list[k - 1].score) return;
  let i = list.length;
  while (i > 0 && list[i - 1].score < entry.score) i--;
  list.splice(i, 0, entry);
  if (list.length > k) list.pop();
}
