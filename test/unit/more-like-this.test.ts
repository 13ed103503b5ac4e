import { describe, expect, it } from 'vitest';
import { AttributeIndex, blendContext, combineSimilarities, withContextItem } from '../../workers/more-like-this.ts';
import type { HistoryEntry } from '../../workers/recommender.ts';

describe('withContextItem', () => {
  const history: HistoryEntry[] = [
    { index: 3, event: 'view_item', ts: 1 },
    { index: 5, event: 'add_to_cart', ts: 2 },
  ];

  it('adds the item on screen as the latest step', () => {
    expect(withContextItem(history, 7, 9)).toEqual([...history, { index: 7, event: 'view_item', ts: 9 }]);
    expect(history).toHaveLength(2); // not mutated
  });

  it('does not repeat it when the shopper’s latest step already is that item', () => {
    expect(withContextItem(history, 5, 9)).toBe(history);
    expect(withContextItem([], 5, 9)).toEqual([{ index: 5, event: 'view_item', ts: 9 }]);
  });
});

describe('AttributeIndex', () => {
  const attrs = [['ignored'], ['cat>a', 'brand:x'], ['cat>a', 'brand:y'], ['cat>b'], [], ['cat>a', 'brand:x', 'brand:x']];

  it('gives each item the cosine of its attribute set with the context item’s', () => {
    const sims = new AttributeIndex(attrs).similarTo(1);
    expect(sims[0]).toBe(0); // padding
    expect(sims[1]).toBeCloseTo(1);
    expect(sims[2]).toBeCloseTo(1 / 2); // 1 shared / √(2·2)
    expect(sims[3]).toBe(0);
    expect(sims[4]).toBe(0); // no attributes
    expect(sims[5]).toBeCloseTo(1); // duplicates count once
  });

  it('is zero everywhere for an item without attributes', () => {
    expect([...new AttributeIndex(attrs).similarTo(4)]).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('blendContext', () => {
  it('ranks as the standardised scores plus weight × similarity, on the scores’ own scale', () => {
    // two rows of 4 items; the second row is picked by offset
    const scores = Float32Array.from([0, 9, 9, 9, 9, /* row 2 */ -1, 10, 12, 14, 13]);
    const sims = [0, 1, 0, 0, 0.5];
    const out = blendContext(scores, sims, 2, 5);
    const row = [10, 12, 14, 13];
    const mean = row.reduce((a, b) => a + b) / 4;
    const sd = Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / 4);
    expect(out[0]).toBe(-Infinity);
    for (let j = 1; j < 5; j++) expect(out[j]).toBeCloseTo(scores[5 + j] + 2 * sd * sims[j], 5);
    // weight 0 leaves the model's scores as they are
    expect([...blendContext(scores, sims, 0, 5)].slice(1)).toEqual(row);
  });

  it('still blends when every score is equal (sd 0): similarity decides', () => {
    const out = blendContext([0, 3, 3, 3], [0, 0, 1, 0.5], 1);
    expect([...out].slice(1)).toEqual([3, 4, 3.5]);
  });
});

describe('combineSimilarities', () => {
  it('weighs attribute and embedding similarity; padding stays 0', () => {
    const out = combineSimilarities([9, 1, 0, 0.5], [9, 0.5, -1, 0], { attributes: 2, embeddings: 4 });
    expect([...out]).toEqual([0, 4, -4, 1]);
  });
});
