// The Beauty rerank benchmark's protocol on a dataset small enough to check by hand:
// attribute lists → brand + category path, lists from training popularity without the
// user's history, and the shop-order metrics.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSequences, applyAttributesJson } from '../../bench/datasets.ts';
import { beautyCatalog, runRerankQuality } from '../../bench/rerank-quality.ts';

const SEQUENCES = 'u1 a b c d\nu2 a b e\nu3 b c a f\n';
// T1, T2 appear both first and second → top-level categories; B1, B2 only first → brands
const ATTRS = JSON.stringify({ a: [11, 1, 21], b: [1, 21], c: [12, 1, 22], d: [2, 23], e: [11, 2, 23], f: [1, 21] });

describe('bench/rerank-quality', () => {
  it('reads [brand?, top-level, sub-level…] attribute lists', () => {
    const data = parseSequences(SEQUENCES, 'tiny');
    applyAttributesJson(data, ATTRS);
    const { catalog, coverage } = beautyCatalog(data);
    expect(coverage).toEqual({ items: 6, withBrand: 3, withCategory: 6, topLevelCategories: 2 });
    const a = catalog.find((i) => i.item_id === 'a')!;
    expect([a.item_brand, a.item_category, a.item_category2]).toEqual(['attr:11', 'attr:1', 'attr:21']);
    const d = catalog.find((i) => i.item_id === 'd')!;
    expect([d.item_brand, d.item_category, d.item_category2]).toEqual([undefined, 'attr:2', 'attr:23']);
  });

  it('builds lists from training popularity without the user history, and scores the shop order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rq-'));
    writeFileSync(join(dir, 'seq.txt'), SEQUENCES);
    writeFileSync(join(dir, 'attrs.json'), ATTRS);
    const { rows } = runRerankQuality({ data: join(dir, 'seq.txt'), attrs: join(dir, 'attrs.json'), seed: 1 });
    const shop = rows.find((r) => r.split === 'test' && r.list.startsWith('bestsellers') && r.order.startsWith('shop'))!;
    // popularity over training prefixes: a 2, b 2, c 1 → list a b c d e f, minus each history:
    // u1 (a b c → d): d first; u2 (a b → e): c d e, rank 2; u3 (b c a → f): d e f, rank 2
    expect(shop.users).toBe(3);
    expect(shop.listed).toBe(3);
    expect(shop.metrics['HR@10']).toBe(1);
    expect(shop.metrics['NDCG@10']).toBeCloseTo((1 + 0.5 + 0.5) / 3, 12);
    expect(shop.metrics.MRR).toBeCloseTo((1 + 1 / 3 + 1 / 3) / 3, 12);
    expect(shop.gainNdcg10.mean).toBe(0);
    // every order is measured on the same users
    for (const r of rows) expect(r.users).toBe(3);
  });
});
