// The worker's rerank scores only the listed items (Recommender.scoreItems, a local table);
// those scores must equal the full-catalog next-item scores, or the ranking would differ.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CatalogItem } from '../../src/catalog.ts';
import { Recommender, type HistoryEntry } from '../../workers/recommender.ts';

const catalog: CatalogItem[] = Array.from({ length: 300 }, (_, i) => ({
  item_id: `sku${i}`,
  item_name: `Item ${i}`,
  item_category: `Dept ${i % 7}`,
  item_category2: `Cat ${i % 23}`,
  item_brand: `Brand ${i % 11}`,
  price: 5 + (i % 50),
}));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Recommender.scoreItems', () => {
  it('equals the full-catalog scores for the listed items, before and after training', async () => {
    const rec = new Recommender(catalog);
    const history: HistoryEntry[] = [3, 40, 41, 7, 120, 3].map((index, t) => ({ index, event: 'view_item', ts: t }));
    // a shop's list: repeats, history items and the padding-adjacent first item included
    const listed = [1, 2, 3, 40, 299, 150, 2, 77];
    for (const round of [0, 1]) {
      if (round === 1) await rec.train(history, 3);
      const table = tf.tensor2d(rec.table.rows, [rec.table.size, rec.table.width], 'int32');
      const full = await rec.model.scoreNext([history.map((h) => h.index)], table);
      table.dispose();
      const before = tf.memory().numTensors;
      const some = await rec.scoreItems(history, listed);
      expect(some).toHaveLength(listed.length);
      expect(tf.memory().numTensors).toBe(before); // nothing leaked by the local table
      listed.forEach((index, j) => expect(some[j]).toBeCloseTo(full[index], 4));
      // cached: the same array for the same history and list
      expect(await rec.scoreItems(history, listed)).toBe(some);
    }
    rec.dispose();
  });
});
