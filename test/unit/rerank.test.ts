import { describe, expect, it } from 'vitest';
import type { CatalogItem } from '../../src/catalog.ts';
import { buildCatalogStats } from '../../workers/profile/catalog-stats.ts';
import type { ShopperProfile } from '../../workers/profile/profile.ts';
import { profileAffinity, rerank } from '../../workers/profile/rerank.ts';

const item = (id: string, cats: string[], brand: string, price: number, in_stock = true): CatalogItem => ({
  item_id: id, item_name: id, item_category: cats[0], item_category2: cats[1], item_brand: brand, price, in_stock,
});
const list: CatalogItem[] = [
  item('jacket', ['Clothing', 'Jackets'], 'Patagonia', 300),
  item('hat', ['Clothing', 'Hats'], 'Patagonia', 30),
  item('shoe-nike', ['Shoes', 'Running'], 'Nike', 120),
  item('shoe-asics', ['Shoes', 'Running'], 'Asics', 60),
];
const runner: Pick<ShopperProfile, 'interests' | 'price'> = {
  interests: { categories: [{ key: 'Shoes > Running', path: ['Shoes', 'Running'], weight: 0.8 }], brands: [{ name: 'Nike', weight: 0.6 }], searches: [] },
  price: { band: 'unknown', sensitivity: 'unknown', samples: 0 },
};
const ids = (r: { item: CatalogItem }[]) => r.map((x) => x.item.item_id);

describe('rerank', () => {
  it('keeps the shop order without model scores or profile', () => {
    expect(ids(rerank(list))).toEqual(['jacket', 'hat', 'shoe-nike', 'shoe-asics']);
  });

  it('moves items matching the profile up (category, then brand)', () => {
    expect(ids(rerank(list, { profile: runner })).slice(0, 2)).toEqual(['shoe-nike', 'shoe-asics']);
  });

  it('follows model scores by rank, whatever their scale', () => {
    const r = rerank(list, { modelScores: { jacket: -3, hat: 1e6, 'shoe-nike': 0, 'shoe-asics': 2 } });
    expect(ids(r)[0]).toBe('hat');
    expect(r.find((x) => x.item.item_id === 'hat')!.modelScore).toBe(1e6);
    expect(ids(rerank(list, { modelScores: new Map([['shoe-asics', 9]]), weights: { model: 1, affinity: 0, shop: 0 } }))[0]).toBe('shoe-asics');
  });

  it('gives tied model scores the same share, so the shop order breaks the tie', () => {
    // all tied: the shop's order stands; a tie below a higher score keeps shop order too
    expect(ids(rerank(list, { modelScores: { jacket: 1, hat: 1, 'shoe-nike': 1, 'shoe-asics': 1 } }))).toEqual(['jacket', 'hat', 'shoe-nike', 'shoe-asics']);
    const r = rerank(list, { modelScores: { jacket: 0, hat: 0, 'shoe-nike': 5, 'shoe-asics': 0 }, weights: { model: 1, affinity: 0, shop: 0.01 } });
    expect(ids(r)).toEqual(['shoe-nike', 'jacket', 'hat', 'shoe-asics']);
    expect(r[1].score - r[2].score).toBeGreaterThan(0); // only the shop part differs
  });

  it('puts out-of-stock items last unless told not to', () => {
    const withOut = [item('gone', ['Shoes', 'Running'], 'Nike', 100, false), ...list];
    expect(ids(rerank(withOut, { profile: runner })).at(-1)).toBe('gone');
    expect(ids(rerank(withOut, { profile: runner, demoteOutOfStock: false }))[0]).toBe('gone');
  });

  it('scores price fit against the shopper percentile when catalog stats are given', () => {
    const shoes = Array.from({ length: 10 }, (_, i) => item(`s${i}`, ['Shoes', 'Running'], 'X', 10 * (i + 1)));
    const stats = buildCatalogStats(shoes);
    const cheapSeeker = { ...runner, price: { ...runner.price, percentile: 0.05, band: 'low' as const } };
    expect(profileAffinity(shoes[0], cheapSeeker, stats)).toBeGreaterThan(profileAffinity(shoes[9], cheapSeeker, stats));
    expect(profileAffinity(shoes[0], cheapSeeker)).toBe(profileAffinity(shoes[9], cheapSeeker));
  });

  it('does not modify its input and returns every item once', () => {
    const copy = [...list];
    const r = rerank(list, { profile: runner });
    expect(list).toEqual(copy);
    expect(new Set(ids(r)).size).toBe(list.length);
  });
});
