import { describe, expect, it } from 'vitest';
import type { CatalogItem } from '../../src/catalog.ts';
import { cartItemIds, contentSimilarity, explainRecommendation, historyFromEvents, type HistoryEntry } from '../../workers/profile/explain.ts';
import type { WeightedCategory } from '../../workers/profile/profile.ts';

const item = (id: string, name: string, cats: string[], brand?: string, price = 50): CatalogItem => ({
  item_id: id,
  item_name: name,
  item_category: cats[0],
  item_category2: cats[1],
  item_brand: brand,
  price,
});
const pegasus = item('p', 'Pegasus 41', ['Shoes', 'Running'], 'Nike', 120);
const gel = item('g', 'Gel-Kayano', ['Shoes', 'Running'], 'Asics', 150);
const boot = item('b', 'Trail Boot', ['Shoes', 'Hiking'], 'Salomon', 180);
const tv = item('tv', 'OLED TV', ['Electronics', 'TV'], 'LG', 1200);
const vomero = item('v', 'Vomero 18', ['Shoes', 'Running'], 'Nike', 130);

const T = 1_700_000_000_000;
const h = (it: CatalogItem, event: HistoryEntry['event'], minutes: number, attention?: number): HistoryEntry => ({ item: it, event, ts: T + minutes * 60_000, attention });

describe('contentSimilarity', () => {
  it('ranks same path + brand above same path above same top level, and 0 for unrelated', () => {
    const samePathBrand = contentSimilarity(vomero, pegasus);
    const samePath = contentSimilarity(vomero, gel);
    const sameTop = contentSimilarity(vomero, boot);
    expect(samePathBrand).toBeGreaterThan(samePath);
    expect(samePath).toBeGreaterThan(sameTop);
    expect(sameTop).toBeGreaterThan(0);
    expect(contentSimilarity(vomero, tv)).toBe(0);
  });
});

describe('explainRecommendation', () => {
  it('names the most similar viewed item: same category path and brand first', () => {
    const r = explainRecommendation(vomero, [h(gel, 'view_item', 1), h(pegasus, 'view_item', 2), h(boot, 'view_item', 3)]);
    expect(r).toMatchObject({ kind: 'because_viewed', text: 'Because you viewed Pegasus 41', sourceItemId: 'p' });
  });

  it('says "in your cart" when the matching item is in the cart, and not after it was removed', () => {
    expect(explainRecommendation(vomero, [h(pegasus, 'add_to_cart', 1)]).text).toBe('Similar to Pegasus 41 in your cart');
    const removed = explainRecommendation(vomero, [h(pegasus, 'view_item', 0), h(pegasus, 'add_to_cart', 1), h(pegasus, 'remove_from_cart', 2)]);
    expect(removed.kind).toBe('because_viewed');
  });

  it('says "because you bought" for a purchased match', () => {
    expect(explainRecommendation(vomero, [h(pegasus, 'add_to_cart', 1), h(pegasus, 'purchase', 2)]).text).toBe('Because you bought Pegasus 41');
  });

  it('lets model attention pick among related history items', () => {
    // attention counts half: with similar attention, the closer match (same brand) wins ...
    const history = [h(pegasus, 'view_item', 1, 0.45), h(gel, 'view_item', 2, 0.5)];
    expect(explainRecommendation(vomero, history).sourceItemId).toBe('p');
    // with attention strongly on the Asics, the model's view wins over brand match
    expect(explainRecommendation(vomero, [h(pegasus, 'view_item', 1, 0.0), h(gel, 'view_item', 2, 1)]).sourceItemId).toBe('g');
  });

  it('never names an unrelated item as similar, however attended, nor the candidate itself', () => {
    const r = explainRecommendation(vomero, [h(tv, 'view_item', 1, 1), h(vomero, 'view_item', 2)]);
    expect(r.kind).not.toBe('because_viewed');
    // a profile reason beats the model's cross-category link
    const profile = { interests: { categories: [{ key: 'Shoes > Running', path: ['Shoes', 'Running'], weight: 1 }], brands: [], searches: [] } };
    expect(explainRecommendation(vomero, [h(tv, 'view_item', 1, 1)], { profile }).kind).toBe('category_interest');
  });

  it("uses the model's most attended item only as a last resort, marked model_nearest", () => {
    // nothing shared and no profile match: the model's link, phrased by what the shopper did
    const history = [h(tv, 'view_item', 1, 0.2), h(tv, 'add_to_cart', 2, 1), h(vomero, 'view_item', 3, 1)];
    expect(explainRecommendation(vomero, history)).toEqual({ kind: 'model_nearest', text: 'Because you added OLED TV to your cart', sourceItemId: 'tv' });
    // without attention there is no model link to state
    expect(explainRecommendation(vomero, [h(tv, 'view_item', 1)]).kind).toBe('none');
  });

  it('falls back to a category the profile is interested in, naming the category', () => {
    const categories: WeightedCategory[] = [{ key: 'Shoes > Running', path: ['Shoes', 'Running'], weight: 1 }];
    const profile = { interests: { categories, brands: [], searches: [] } };
    expect(explainRecommendation(vomero, [h(tv, 'view_item', 1)], { profile, popular: true }).text).toBe('Popular in Running, a category you browse');
    expect(explainRecommendation(vomero, [], { profile }).text).toBe('In Running, a category you browse');
    // an interest in the parent only names the parent
    const parentOnly = { interests: { categories: [{ key: 'Shoes', path: ['Shoes'], weight: 1 }], brands: [], searches: [] } };
    expect(explainRecommendation(vomero, [], { profile: parentOnly }).category).toBe('Shoes');
  });

  it('falls back to a liked brand, then to a generic reason', () => {
    const profile = { interests: { categories: [], brands: [{ name: 'Nike', weight: 1 }], searches: [] } };
    expect(explainRecommendation(vomero, [], { profile }).text).toBe('From Nike, a brand you like');
    expect(explainRecommendation(tv, [], { popular: true }).text).toBe('Popular in TV');
    expect(explainRecommendation(tv, []).kind).toBe('none');
  });

  it('tracks the cart through adds, removes and purchases', () => {
    expect([...cartItemIds([h(pegasus, 'add_to_cart', 1), h(gel, 'add_to_cart', 2), h(gel, 'purchase', 3)])]).toEqual(['p']);
  });
});

describe('historyFromEvents', () => {
  it('keeps cleaned item events on catalog items, the last N, oldest first', async () => {
    const { buildCatalogStats } = await import('../../workers/profile/catalog-stats.ts');
    const stats = buildCatalogStats([pegasus, gel, vomero]);
    const e = (name: 'view_item' | 'view_item_list' | 'add_to_cart', id: string, s: number) => ({ name, ts: T + s * 1000, source: 'track' as const, params: { items: [{ item_id: id }] } });
    const events = [e('view_item', 'p', 0), e('view_item', 'p', 1), e('view_item_list', 'g', 10), e('view_item', 'unknown', 20), e('add_to_cart', 'g', 30), e('view_item', 'v', 40)];
    const history = historyFromEvents(events, stats, T + 60_000, 2);
    expect(history.map((x) => [x.item.item_id, x.event])).toEqual([['g', 'add_to_cart'], ['v', 'view_item']]);
    // the duplicate view 1 s later was cleaned away
    expect(historyFromEvents(events, stats, T + 60_000).filter((x) => x.item.item_id === 'p')).toHaveLength(1);
  });
});
