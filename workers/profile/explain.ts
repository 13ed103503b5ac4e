// Why an item is recommended, in words derived from the shopper's own history.
// Pure code: the worker calls it with catalog items it already holds.
//
// Order of reasons (first that applies):
//   1. the history item most like the candidate (same category path, then brand, then price
//      level; model attention breaks ties or, when given, counts half) — phrased by what the
//      shopper did with it: in the cart → "Similar to X in your cart", bought → "Because you
//      bought X", otherwise "Because you viewed X". A history item must share at least the
//      top-level category or the brand, so we never say "because you viewed socks" for a TV.
//   2. the candidate's category is one the shopper's profile is interested in →
//      "Popular in <category>, a category you browse" (or without "Popular" when we were
//      not told it is popular).
//   3. its brand is a profile brand → "From <brand>, a brand you like".
//   4. the model's most attended history item, when attention was given (the model links the
//      two through the shopper's sequence even though they share no category or brand; its
//      kind, 'model_nearest', lets a storefront treat it as the weaker reason it is).
//   5. otherwise a generic reason ("Popular right now" only when it is popular).
import type { CatalogItem } from '../../src/catalog.ts';
import { categoryPath } from '../../src/catalog.ts';
import type { EventName, Ga4Item, SiloEvent } from '../../src/events.ts';
import { priceBucket } from '../../models/features.ts';
import type { CatalogStats } from './catalog-stats.ts';
import { cleanEvents } from './clean.ts';
import type { ShopperProfile } from './profile.ts';

/** One thing the shopper did with a catalog item, most recent last. */
export interface HistoryEntry {
  item: CatalogItem;
  event: EventName;
  ts: number;
  /** Optional model attention / similarity for this history position (any scale ≥ 0). */
  attention?: number;
}

export type ReasonKind = 'similar_in_cart' | 'because_bought' | 'because_viewed' | 'category_interest' | 'brand_interest' | 'model_nearest' | 'popular' | 'none';

export interface Reason {
  kind: ReasonKind;
  text: string;
  /** The history item the reason points at, for kinds that have one. */
  sourceItemId?: string;
  category?: string;
  brand?: string;
}

export interface ExplainContext {
  profile?: Pick<ShopperProfile, 'interests'>;
  /** True when the recommender put it there for popularity (e.g. a cold-start fallback). */
  popular?: boolean;
}

/**
 * Content similarity in 0..1: shared category levels (half), brand (a third), price level
 * (a sixth). 0 when neither top-level category nor brand matches.
 */
export function contentSimilarity(a: Ga4Item, b: Ga4Item): number {
  const pa = categoryPath(a);
  const pb = categoryPath(b);
  let shared = 0;
  while (shared < pa.length && shared < pb.length && pa[shared] === pb[shared]) shared++;
  const sameBrand = !!a.item_brand && a.item_brand === b.item_brand;
  if (shared === 0 && !sameBrand) return 0;
  const depth = Math.max(pa.length, pb.length, 1);
  const samePrice = a.price !== undefined && b.price !== undefined && priceBucket(a.price) === priceBucket(b.price);
  return (0.5 * shared) / depth + (sameBrand ? 1 / 3 : 0) + (samePrice ? 1 / 6 : 0);
}

const HISTORY_EVENTS: ReadonlySet<EventName> = new Set(['view_item', 'select_item', 'add_to_cart', 'remove_from_cart', 'add_to_wishlist', 'purchase']);

/**
 * The shopper's recent history as catalog items, for explainRecommendation: cleaned first
 * (rejected events never become reasons), item events only, catalog items only (a reason must
 * name something the shop still lists), the last `limit` entries, oldest first.
 */
export function historyFromEvents(events: readonly SiloEvent[], stats: CatalogStats, now: number, limit = 50): HistoryEntry[] {
  const history: HistoryEntry[] = [];
  for (const event of cleanEvents(events, now).kept) {
    if (!HISTORY_EVENTS.has(event.name)) continue;
    for (const raw of event.params.items ?? []) {
      const item = stats.byId.get(raw.item_id);
      if (item) history.push({ item, event: event.name, ts: event.ts });
    }
  }
  return history.slice(-limit);
}

/** Items currently in the cart: added and not removed or bought since. */
export function cartItemIds(history: readonly HistoryEntry[]): Set<string> {
  const cart = new Set<string>();
  for (const h of [...history].sort((a, b) => a.ts - b.ts)) {
    if (h.event === 'add_to_cart') cart.add(h.item.item_id);
    else if (h.event === 'remove_from_cart' || h.event === 'purchase') cart.delete(h.item.item_id);
  }
  return cart;
}

export function explainRecommendation(candidate: CatalogItem, history: readonly HistoryEntry[], context: ExplainContext = {}): Reason {
  const cart = cartItemIds(history);
  const maxAttention = Math.max(0, ...history.map((h) => h.attention ?? 0));

  // 1. the most similar (and most attended) history item other than the candidate itself
  let best: { entry: HistoryEntry; score: number } | undefined;
  for (const entry of history) {
    if (entry.item.item_id === candidate.item_id || entry.event === 'remove_from_cart') continue;
    const similarity = contentSimilarity(candidate, entry.item);
    if (similarity === 0) continue;
    const score = maxAttention > 0 ? 0.5 * similarity + (0.5 * (entry.attention ?? 0)) / maxAttention : similarity;
    // ties go to the more recent entry
    if (!best || score > best.score || (score === best.score && entry.ts > best.entry.ts)) best = { entry, score };
  }
  if (best) {
    const { item, event } = best.entry;
    const base = { sourceItemId: item.item_id };
    if (cart.has(item.item_id)) return { kind: 'similar_in_cart', text: `Similar to ${item.item_name} in your cart`, ...base };
    if (event === 'purchase') return { kind: 'because_bought', text: `Because you bought ${item.item_name}`, ...base };
    return { kind: 'because_viewed', text: `Because you viewed ${item.item_name}`, ...base };
  }

  // 2. a category the shopper is interested in (the deepest matching level named)
  const path = categoryPath(candidate);
  const interests = context.profile?.interests;
  if (interests && path.length) {
    const liked = interests.categories.find((c) => c.path.every((level, i) => path[i] === level) || path.every((level, i) => c.path[i] === level));
    if (liked) {
      const category = path[Math.min(liked.path.length, path.length) - 1];
      const text = context.popular ? `Popular in ${category}, a category you browse` : `In ${category}, a category you browse`;
      return { kind: 'category_interest', text, category };
    }
  }
  // 3. a brand the shopper likes
  if (interests && candidate.item_brand && interests.brands.some((b) => b.name === candidate.item_brand)) {
    return { kind: 'brand_interest', text: `From ${candidate.item_brand}, a brand you like`, brand: candidate.item_brand };
  }
  // 4. the model's own link: the most attended history item (latest on ties)
  if (maxAttention > 0) {
    let top: HistoryEntry | undefined;
    for (const entry of history) {
      if (entry.item.item_id === candidate.item_id || entry.event === 'remove_from_cart') continue;
      if ((entry.attention ?? 0) === maxAttention && (!top || entry.ts >= top.ts)) top = entry;
    }
    if (top) {
      const text = top.event === 'purchase' ? `Because you bought ${top.item.item_name}` : top.event === 'add_to_cart' ? `Because you added ${top.item.item_name} to your cart` : `Because you viewed ${top.item.item_name}`;
      return { kind: 'model_nearest', text, sourceItemId: top.item.item_id };
    }
  }
  // 5. nothing personal to say
  if (context.popular) return { kind: 'popular', text: path.length ? `Popular in ${path[path.length - 1]}` : 'Popular right now' };
  return { kind: 'none', text: 'Picked for you' };
}
