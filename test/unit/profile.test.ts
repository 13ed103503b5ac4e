import { describe, expect, it } from 'vitest';
import type { CatalogItem } from '../../src/catalog.ts';
import type { EventName, SiloEvent } from '../../src/events.ts';
import { buildCatalogStats, percentileIn, pricePercentile } from '../../workers/profile/catalog-stats.ts';
import { computeProfile, explainInWords, lifecycleOf, profileWithWords, spendTierOf, type Behaviour } from '../../workers/profile/profile.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

// A small shop: 10 running shoes priced 10..100, 10 jackets priced 100..1000, socks.
const catalog: CatalogItem[] = [
  ...Array.from({ length: 10 }, (_, i) => ({ item_id: `shoe${i}`, item_name: `Shoe ${i}`, item_category: 'Shoes', item_category2: 'Running', item_brand: i % 2 ? 'Asics' : 'Nike', price: 10 * (i + 1) })),
  ...Array.from({ length: 10 }, (_, i) => ({ item_id: `jacket${i}`, item_name: `Jacket ${i}`, item_category: 'Clothing', item_category2: 'Jackets', item_brand: 'Patagonia', price: 100 * (i + 1) })),
  { item_id: 'sock', item_name: 'Sock', item_category: 'Clothing', item_category2: 'Socks', item_brand: 'Nike', price: 5 },
];
const stats = buildCatalogStats(catalog);

let tick = 0;
const ev = (name: EventName, daysAgo: number, ids: string[], extra: Partial<SiloEvent['params']> = {}): SiloEvent => ({
  name,
  // a minute apart so nothing is a duplicate; negative offset keeps events inside a session
  ts: NOW - daysAgo * DAY + (tick++ % 20) * 60_000 - 30 * 60_000,
  source: 'track',
  params: { items: ids.map((item_id) => ({ item_id })), ...extra },
});

describe('catalog stats', () => {
  it('gives mid-rank percentiles within a category', () => {
    expect(percentileIn(Float64Array.from([10, 20, 30, 40]), 25)).toBe(0.5);
    expect(percentileIn(Float64Array.from([10, 20, 30, 40]), 10)).toBe(0.125);
    // 100 is the cheapest jacket but the most expensive shoe
    expect(pricePercentile(stats, ['Clothing', 'Jackets'], 100)).toBeLessThan(0.1);
    expect(pricePercentile(stats, ['Shoes', 'Running'], 100)).toBeGreaterThan(0.9);
  });
  it('falls back to the parent category when a leaf has fewer than 5 items', () => {
    // Clothing > Socks has one item: the percentile of 5 is taken among all clothing
    expect(pricePercentile(stats, ['Clothing', 'Socks'], 5)).toBeCloseTo(0.5 / 11, 5);
  });
});

describe('computeProfile: interests', () => {
  it('weights events by type: one purchase outweighs three views', () => {
    const p = computeProfile([ev('view_item', 0, ['shoe1']), ev('view_item', 0, ['shoe2']), ev('view_item', 0, ['shoe3']), ev('purchase', 0, ['jacket1'], { transaction_id: 't' })], stats, NOW);
    expect(p.interests.categories[0].key).toBe('Clothing > Jackets');
    expect(p.interests.categories[0].weight).toBeCloseTo(5 / 8, 3);
  });

  it('decays interest with a 14-day half-life', () => {
    const p = computeProfile([ev('view_item', 14, ['shoe1']), ev('view_item', 0, ['jacket1'])], stats, NOW);
    const shoes = p.interests.categories.find((c) => c.key === 'Shoes > Running')!;
    const jackets = p.interests.categories.find((c) => c.key === 'Clothing > Jackets')!;
    expect(shoes.weight / jackets.weight).toBeCloseTo(0.5, 2);
    const slow = computeProfile([ev('view_item', 14, ['shoe1']), ev('view_item', 0, ['jacket1'])], stats, NOW, { halfLifeDays: 28 });
    expect(slow.interests.categories.find((c) => c.key === 'Shoes > Running')!.weight).toBeGreaterThan(shoes.weight);
  });

  it('counts remove_from_cart against an interest, down to nothing', () => {
    const p = computeProfile([ev('add_to_cart', 0, ['shoe1']), ev('remove_from_cart', 0, ['shoe1']), ev('remove_from_cart', 0, ['shoe2']), ev('view_item', 0, ['jacket1'])], stats, NOW);
    expect(p.interests.categories.map((c) => c.key)).toEqual(['Clothing > Jackets']);
    expect(p.interests.categories[0].weight).toBe(1);
  });

  it('normalises to shares and keeps the top N', () => {
    const events = [...catalog.map((c) => ev('view_item', 0, [c.item_id])), ev('view_item', 0, ['jacket5'])];
    const p = computeProfile(events, stats, NOW, { topN: 2 });
    expect(p.interests.categories).toHaveLength(2);
    expect(p.interests.brands.length).toBeLessThanOrEqual(2);
    // 11 jacket views, 10 shoe views, 1 sock view: shares of all 22, not of the top 2
    expect(p.interests.categories.map((c) => c.key)).toEqual(['Clothing > Jackets', 'Shoes > Running']);
    expect(p.interests.categories[0].weight + p.interests.categories[1].weight).toBeCloseTo(21 / 22, 4);
  });

  it('ignores list impressions and records search terms', () => {
    const p = computeProfile([ev('view_item_list', 0, ['shoe1', 'shoe2']), ev('search', 0, [], { search_term: 'Rain Jacket' }), ev('view_item', 0, ['jacket1'])], stats, NOW);
    expect(p.interests.categories.map((c) => c.key)).toEqual(['Clothing > Jackets']);
    expect(p.interests.searches[0].name).toBe('rain jacket');
  });

  it('keeps rejected events out of the profile', () => {
    const burst = Array.from({ length: 40 }, (_, i) => ({ name: 'view_item' as const, ts: NOW - 1000 + i * 10, source: 'track' as const, params: { items: [{ item_id: 'shoe1' }] } }));
    const p = computeProfile([...burst, ev('view_item', 1, ['jacket1'])], stats, NOW);
    expect(p.interests.categories.map((c) => c.key)).toEqual(['Clothing > Jackets']);
    expect(p.recorded.rejected.burst).toBe(40);
    expect(p.recorded.kept).toBe(1);
  });

  it('builds interests over time per UTC day and top-level category, within the window', () => {
    const p = computeProfile([ev('view_item', 40, ['shoe1']), ev('view_item', 2, ['shoe1']), ev('add_to_cart', 2, ['jacket1']), ev('view_item', 1, ['jacket2'])], stats, NOW);
    expect(p.interestsOverTime.map((d) => d.day)).toEqual(['2026-05-30', '2026-05-31']);
    expect(p.interestsOverTime[0].weights).toEqual({ Shoes: 1, Clothing: 3 });
  });
});

describe('computeProfile: price', () => {
  it('places a shopper who looks at the dearest items of each category in the high band', () => {
    const p = computeProfile([ev('view_item', 0, ['shoe9']), ev('view_item', 0, ['shoe8']), ev('view_item', 0, ['jacket9'])], stats, NOW);
    expect(p.price.band).toBe('high');
    expect(p.price.percentile!).toBeGreaterThan(0.8);
  });
  it('measures price within the category: a 100 jacket is cheap even though it costs more than any shoe', () => {
    const p = computeProfile([ev('view_item', 0, ['jacket0']), ev('view_item', 0, ['jacket1']), ev('view_item', 0, ['jacket2'])], stats, NOW);
    expect(p.price.band).toBe('low');
  });
  it('says unknown with fewer than 3 priced events', () => {
    expect(computeProfile([ev('view_item', 0, ['shoe9'])], stats, NOW).price.band).toBe('unknown');
  });
  it('flags high price sensitivity when carts and purchases are cheaper than browsing', () => {
    const p = computeProfile(
      [ev('view_item', 0, ['shoe9']), ev('view_item', 0, ['shoe8']), ev('view_item', 0, ['jacket9']), ev('add_to_cart', 0, ['shoe0']), ev('purchase', 0, ['shoe0'], { transaction_id: 't' })],
      stats,
      NOW,
    );
    expect(p.price.sensitivity).toBe('high');
    expect(p.price.browseVsBuyGap!).toBeGreaterThan(0.15);
  });
  it('flags low sensitivity when they commit to pricier items than they browse', () => {
    const p = computeProfile([ev('view_item', 0, ['shoe0']), ev('view_item', 0, ['shoe1']), ev('add_to_cart', 0, ['shoe9']), ev('add_to_cart', 0, ['shoe8'])], stats, NOW);
    expect(p.price.sensitivity).toBe('low');
  });
});

describe('computeProfile: behaviour and segments', () => {
  it('computes RFM from sessions and purchases', () => {
    const p = computeProfile(
      [ev('view_item', 10, ['shoe1']), ev('purchase', 10, ['shoe1'], { transaction_id: 'a', value: 20 }), ev('view_item', 3, ['shoe2']), ev('purchase', 3, ['shoe2', 'sock'], { transaction_id: 'b' })],
      stats,
      NOW,
    );
    expect(p.behaviour.sessions).toBe(2);
    expect(p.behaviour.purchases).toBe(2);
    // second order has no value: its items' catalog prices 30 + 5
    expect(p.behaviour.monetary).toBe(55);
    expect(p.behaviour.averageOrderValue).toBe(27.5);
    expect(p.behaviour.recencyDays!).toBeGreaterThan(3);
    expect(p.behaviour.recencyDays!).toBeLessThan(3.03);
  });

  const b = (over: Partial<Behaviour>): Behaviour => ({ sessions: 1, sessionsLast30Days: 1, purchases: 0, monetary: 0, recencyDays: 1, daysSinceFirstSeen: 20, ...over });
  it('lifecycle rules, first match wins', () => {
    expect(lifecycleOf(b({ recencyDays: undefined }))).toBe('none');
    expect(lifecycleOf(b({ recencyDays: 31, purchases: 5 }))).toBe('lapsing');
    expect(lifecycleOf(b({ recencyDays: 30, purchases: 2 }))).toBe('loyal');
    expect(lifecycleOf(b({ daysSinceFirstSeen: 7 }))).toBe('new');
    expect(lifecycleOf(b({ daysSinceFirstSeen: 8, purchases: 1 }))).toBe('active');
  });
  it('spend tier places average order value in the catalog price distribution', () => {
    expect(spendTierOf(b({}), stats)).toBe('none');
    expect(spendTierOf(b({ purchases: 1, averageOrderValue: 20 }), stats)).toBe('low');
    expect(spendTierOf(b({ purchases: 1, averageOrderValue: 100 }), stats)).toBe('mid');
    expect(spendTierOf(b({ purchases: 1, averageOrderValue: 900 }), stats)).toBe('high');
  });
  it('never invents a purchase propensity', () => {
    const events = [ev('view_item', 0, ['shoe1'])];
    expect(computeProfile(events, stats, NOW).purchasePropensity).toMatchObject({ available: false });
    expect(computeProfile(events, stats, NOW, { purchaseProbability: 0.3 }).purchasePropensity).toEqual({ available: true, probability: 0.3, source: 'model' });
    expect(computeProfile(events, stats, NOW, { purchaseProbability: 3 }).purchasePropensity.available).toBe(false);
  });
  it('accepts a plain catalog instead of precomputed stats', () => {
    const a = computeProfile([ev('view_item', 0, ['shoe1'])], catalog, NOW);
    expect(a.interests.categories[0].key).toBe('Shoes > Running');
  });
});

describe('explainInWords', () => {
  it('says nothing is recorded for an empty history', () => {
    expect(explainInWords(computeProfile([], stats, NOW))).toEqual(['Nothing has been recorded on this device yet.']);
  });
  it('describes interests, price and visits in plain sentences', () => {
    const p = computeProfile([ev('view_item', 0, ['shoe9']), ev('view_item', 0, ['shoe8']), ev('add_to_cart', 0, ['shoe7']), ev('search', 0, [], { search_term: 'trail' })], stats, NOW);
    const words = explainInWords(p).join(' ');
    expect(words).toContain('You mostly look at Running.');
    expect(words).toContain('Nike');
    expect(words).toContain('“trail”');
    expect(words).toContain('upper end');
    expect(words).toContain('one visit and no orders yet');
    expect(words).toContain('You are new here.');
    expect(words).not.toMatch(/\d\.\d/); // no raw scores
  });
});

describe('profileWithWords', () => {
  it('returns the profile with its sentences, and mentions ignored events', () => {
    const dup = ev('view_item', 0, ['shoe1']);
    const p = profileWithWords([dup, { ...dup, ts: dup.ts + 500 }], stats, NOW);
    expect(p.recorded.rejected.duplicate).toBe(1);
    expect(p.words).toEqual(explainInWords(p));
    expect(p.words.join(' ')).toContain('One recorded event looked like a repeat');
  });
});

describe('catalog stats precomputation', () => {
  it('precomputes the same percentile pricePercentile gives, for every catalog item', () => {
    for (const item of catalog) {
      const path = [item.item_category!, item.item_category2!];
      expect(stats.pricePercentileById.get(item.item_id)).toBeCloseTo(pricePercentile(stats, path, item.price)!, 12);
      expect(stats.pathById.get(item.item_id)!.key).toBe(path.join(' > '));
    }
  });
  it('keeps the first listing of a repeated item_id', () => {
    const s = buildCatalogStats([catalog[0], { ...catalog[0], price: 999 }]);
    expect(s.byId.get('shoe0')!.price).toBe(10);
    expect(s.allPrices.length).toBe(1);
  });
});
