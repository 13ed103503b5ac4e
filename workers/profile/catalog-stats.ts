// Per-category price distributions of the catalog, computed once when the catalog loads so a
// profile update only does binary searches (well under a millisecond for 1k events).
import type { CatalogItem } from '../../src/catalog.ts';
import { categoryPath } from '../../src/catalog.ts';

/** A category's prices need at least this many items before we trust its percentiles;
 *  smaller categories fall back to their parent, then to the whole catalog. */
export const MIN_ITEMS_FOR_DISTRIBUTION = 5;

export interface CatalogStats {
  byId: ReadonlyMap<string, CatalogItem>;
  /** Sorted prices per category path key (every prefix of every item's path). */
  pricesByCategory: ReadonlyMap<string, Float64Array>;
  /** Sorted prices of every priced item. */
  allPrices: Float64Array;
  /** Each catalog item's price percentile within its category (see pricePercentile),
   *  precomputed so a profile update does a map lookup instead of a search per event. */
  pricePercentileById: ReadonlyMap<string, number>;
  /** Each catalog item's category path and its key, precomputed for the same reason. */
  pathById: ReadonlyMap<string, { path: string[]; key: string }>;
  itemCount: number;
}

/** The key of a category path: levels joined with ' > ' ("Shoes > Running"). */
export function categoryKey(path: readonly string[]): string {
  return path.join(' > ');
}

export function buildCatalogStats(catalog: readonly CatalogItem[]): CatalogStats {
  const byId = new Map<string, CatalogItem>();
  const pathById = new Map<string, { path: string[]; key: string }>();
  const prefixKeysById = new Map<string, string[]>();
  const lists = new Map<string, number[]>();
  const all: number[] = [];
  for (const item of catalog) {
    if (byId.has(item.item_id)) continue; // first listing wins, as in parseCatalog
    byId.set(item.item_id, item);
    const path = categoryPath(item);
    // "Shoes", "Shoes > Running", ...: built once per item, reused for lists and lookups
    const prefixKeys: string[] = [];
    for (let depth = 0; depth < path.length; depth++) prefixKeys.push(depth ? `${prefixKeys[depth - 1]} > ${path[depth]}` : path[0]);
    pathById.set(item.item_id, { path, key: prefixKeys[prefixKeys.length - 1] ?? '' });
    prefixKeysById.set(item.item_id, prefixKeys);
    if (!(item.price > 0)) continue; // free or unpriced items say nothing about price level
    all.push(item.price);
    for (const key of prefixKeys) {
      let list = lists.get(key);
      if (!list) lists.set(key, (list = []));
      list.push(item.price);
    }
  }
  const sorted = (xs: number[]) => Float64Array.from(xs).sort();
  const pricesByCategory = new Map<string, Float64Array>();
  for (const [key, list] of lists) pricesByCategory.set(key, sorted(list));
  const allPrices = sorted(all);
  const pricePercentileById = new Map<string, number>();
  for (const item of byId.values()) {
    if (!(item.price > 0)) continue;
    // same rule as pricePercentile: deepest level with enough items, else the whole catalog
    const prefixKeys = prefixKeysById.get(item.item_id)!;
    let distribution: Float64Array = allPrices;
    for (let depth = prefixKeys.length - 1; depth >= 0; depth--) {
      const list = pricesByCategory.get(prefixKeys[depth])!;
      if (list.length >= MIN_ITEMS_FOR_DISTRIBUTION) {
        distribution = list;
        break;
      }
    }
    pricePercentileById.set(item.item_id, percentileIn(distribution, item.price));
  }
  return { byId, pricesByCategory, allPrices, pricePercentileById, pathById, itemCount: byId.size };
}

/** Mid-rank percentile (0..1) of `price` in a sorted list: ties count half. */
export function percentileIn(sorted: Float64Array, price: number): number {
  if (sorted.length === 0) return 0.5;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < price) lo = mid + 1;
    else hi = mid;
  }
  const below = lo;
  let upTo = lo;
  hi = sorted.length;
  while (upTo < hi) {
    const mid = (upTo + hi) >> 1;
    if (sorted[mid] <= price) upTo = mid + 1;
    else hi = mid;
  }
  return (below + (upTo - below) / 2) / sorted.length;
}

/**
 * Where `price` sits among items of the same category (deepest level with enough items),
 * falling back to the whole catalog. Returns undefined when the catalog has no prices.
 */
export function pricePercentile(stats: CatalogStats, path: readonly string[], price: number): number | undefined {
  for (let depth = path.length; depth >= 1; depth--) {
    const list = stats.pricesByCategory.get(categoryKey(path.slice(0, depth)));
    if (list && list.length >= MIN_ITEMS_FOR_DISTRIBUTION) return percentileIn(list, price);
  }
  return stats.allPrices.length ? percentileIn(stats.allPrices, price) : undefined;
}

/** The price at quantile q (0..1) of a sorted list, by linear interpolation. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const pos = Math.min(Math.max(q, 0), 1) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
