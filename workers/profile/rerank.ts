// Orders a storefront's own list (search results, a category page) for this shopper.
// The shop's order is a signal too (relevance to the query, merchandising), so the final
// score blends three parts, each scaled to 0..1 within the list:
//   model    – the recommender's score for the item (rank-normalised; absent → not used)
//   affinity – profile match: category interest + brand interest + price fit
//   shop     – the storefront's position, discounted like DCG: 1/log2(position + 2), so the
//              shop's top slots matter most and the tail of a long list is nearly flat
// Default blend 0.5 / 0.3 / 0.2; when there are no model scores its share goes to the others
// in proportion. Out-of-stock items keep their order but go after in-stock ones.
// Cost: O(n log n) with small constants; ~200 items well under 1 ms (see BENCHMARKS.md).
import type { CatalogItem } from '../../src/catalog.ts';
import { categoryPath } from '../../src/catalog.ts';
import { pricePercentile, type CatalogStats } from './catalog-stats.ts';
import type { ShopperProfile } from './profile.ts';

export interface RerankContext {
  /** Model scores by item_id (any scale; only their order within the list matters). */
  modelScores?: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
  profile?: Pick<ShopperProfile, 'interests' | 'price'>;
  /** Needed for the price-fit part of the affinity; without it price is ignored. */
  catalogStats?: CatalogStats;
  weights?: { model: number; affinity: number; shop: number };
  /** Default true: out-of-stock items (in_stock === false) go last. */
  demoteOutOfStock?: boolean;
}

export interface RankedItem<T extends CatalogItem = CatalogItem> {
  item: T;
  score: number;
  modelScore?: number;
  affinity: number;
  originalIndex: number;
}

export const DEFAULT_RERANK_WEIGHTS = { model: 0.5, affinity: 0.3, shop: 0.2 } as const;

/**
 * Profile affinity in 0..1: category interest share (matched on the longest shared path
 * prefix, scaled by how much of the path matches) counts 0.5, brand share 0.3 and price fit
 * 0.2 (1 when the item's category percentile equals the shopper's, 0 at the far end).
 * Interest shares are rescaled so the shopper's top interest counts fully.
 */
export function profileAffinity(item: CatalogItem, profile: Pick<ShopperProfile, 'interests' | 'price'>, stats?: CatalogStats): number {
  const path = categoryPath(item);
  const topCategory = profile.interests.categories[0]?.weight ?? 0;
  let category = 0;
  if (topCategory > 0) {
    for (const c of profile.interests.categories) {
      let shared = 0;
      while (shared < c.path.length && shared < path.length && c.path[shared] === path[shared]) shared++;
      if (shared === 0) continue;
      const match = (c.weight / topCategory) * (shared / Math.max(c.path.length, path.length));
      if (match > category) category = match;
    }
  }
  const topBrand = profile.interests.brands[0]?.weight ?? 0;
  const brandEntry = item.item_brand ? profile.interests.brands.find((b) => b.name === item.item_brand) : undefined;
  const brand = brandEntry && topBrand > 0 ? brandEntry.weight / topBrand : 0;
  let priceFit = 0;
  if (stats && profile.price.percentile !== undefined && item.price > 0) {
    const pct = pricePercentile(stats, path, item.price);
    if (pct !== undefined) priceFit = 1 - Math.abs(pct - profile.price.percentile);
  }
  return 0.5 * category + 0.3 * brand + 0.2 * priceFit;
}

function scoreOf(scores: RerankContext['modelScores'], id: string): number | undefined {
  if (!scores) return undefined;
  const v = scores instanceof Map ? scores.get(id) : (scores as Readonly<Record<string, number>>)[id];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Returns the list in the new order; the input array is not modified. */
export function rerank<T extends CatalogItem>(items: readonly T[], context: RerankContext = {}): RankedItem<T>[] {
  const n = items.length;
  if (n === 0) return [];
  const raw = items.map((item) => scoreOf(context.modelScores, item.item_id));

  // model scores → rank in 0..1 (robust to any scale); items without a score get 0
  const modelPart = new Float64Array(n);
  const scored = raw.map((s, i) => [s, i] as const).filter((p): p is readonly [number, number] => p[0] !== undefined);
  scored.sort((a, b) => a[0] - b[0]);
  // tied scores share their mean rank: a tie must not be broken against the shop's order
  for (let r = 0; r < scored.length; ) {
    let end = r + 1;
    while (end < scored.length && scored[end][0] === scored[r][0]) end++;
    const rank = (r + end - 1) / 2;
    for (let k = r; k < end; k++) modelPart[scored[k][1]] = scored.length > 1 ? rank / (scored.length - 1) : 1;
    r = end;
  }

  const weights = { ...(context.weights ?? DEFAULT_RERANK_WEIGHTS) };
  if (scored.length === 0) weights.model = 0;
  if (!context.profile) weights.affinity = 0;
  const total = weights.model + weights.affinity + weights.shop || 1;

  const ranked: RankedItem<T>[] = items.map((item, i) => {
    const affinity = context.profile ? profileAffinity(item, context.profile, context.catalogStats) : 0;
    const shop = 1 / Math.log2(i + 2);
    const score = (weights.model * modelPart[i] + weights.affinity * affinity + weights.shop * shop) / total;
    return { item, score, modelScore: raw[i], affinity, originalIndex: i };
  });
  const demote = context.demoteOutOfStock ?? true;
  ranked.sort((a, b) => {
    if (demote) {
      const aOut = a.item.in_stock === false ? 1 : 0;
      const bOut = b.item.in_stock === false ? 1 : 0;
      if (aOut !== bOut) return aOut - bOut;
    }
    return b.score - a.score || a.originalIndex - b.originalIndex;
  });
  return ranked;
}
