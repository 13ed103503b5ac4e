// "More like this": recommend({ context: { item_id } }) on a product page. The model alone
// barely uses the item on screen: as the latest step of a history it is one step among many,
// and the model was trained to predict what a shopper does next, not what resembles the item.
// So the model's scores are blended with each item's similarity to the context item: how much
// it shares of its public attributes (category path, brand, price band: what the catalog
// already says) and how close the model's own embeddings of the two items are.
// Pure functions: the worker and the benchmark (bench/more-like-this.ts) run the same code.
import type { HistoryEntry } from './recommender.ts';

/** How much each similarity to the context item weighs against the model's standardised scores. */
export interface ContextWeights {
  /** shared public attributes (AttributeIndex) */
  attributes: number;
  /** cosine of the model's own item embeddings */
  embeddings: number;
}

/**
 * The best NDCG@10 of the grid on Amazon Beauty's validation users in
 * `npm run bench:more-like-this` (the test users are scored once, with the weights chosen).
 */
export const MORE_LIKE_THIS: ContextWeights = { attributes: 2, embeddings: 8 };

/**
 * The history with the item on screen as its latest step. Not added twice when the shopper's
 * own latest step already is that item (the page's view_item is usually recorded first).
 */
export function withContextItem(history: readonly HistoryEntry[], index: number, ts: number): readonly HistoryEntry[] {
  if (history[history.length - 1]?.index === index) return history;
  return [...history, { index, event: 'view_item', ts }];
}

/**
 * Every item's attribute-set cosine similarity to one item, |A∩B| / √(|A|·|B|), through an
 * inverted index so one query costs the items sharing an attribute, not the catalog.
 * Index 0 is padding and scores 0.
 */
export class AttributeIndex {
  private readonly byAttr = new Map<string, number[]>();
  private readonly sizes: Uint16Array;
  private readonly attrs: readonly (readonly string[])[];
  private last: { index: number; sims: Float32Array } | null = null;

  /** `attrs[i]`: item i's attributes (i = 0 is padding, ignored). */
  constructor(attrs: readonly (readonly string[])[]) {
    this.attrs = attrs.map((a, i) => (i === 0 ? [] : [...new Set(a)]));
    this.sizes = Uint16Array.from(this.attrs, (a) => a.length);
    this.attrs.forEach((set, i) => {
      for (const a of set) {
        let items = this.byAttr.get(a);
        if (!items) this.byAttr.set(a, (items = []));
        items.push(i);
      }
    });
  }

  /** Similarity of every item to item `index` (a fresh array each time but the last is reused). */
  similarTo(index: number): Float32Array {
    if (this.last?.index === index) return this.last.sims;
    const sims = new Float32Array(this.attrs.length);
    const own = this.attrs[index] ?? [];
    for (const a of own) for (const j of this.byAttr.get(a) ?? []) sims[j]++;
    for (let j = 1; j < sims.length; j++) if (sims[j] > 0) sims[j] /= Math.sqrt(own.length * this.sizes[j]);
    this.last = { index, sims };
    return sims;
  }
}

/**
 * The model's scores plus `weight` × the context similarity × the scores' standard deviation
 * over items 1..n-1: ranked as the standardised scores plus weight × similarity, so the
 * weight means the same whatever the scale of the model's logits, while the result keeps
 * that scale (the popularity prior's boost is added to it after). `scores` may hold several
 * rows; `offset` picks one of `n` items. Returns a new row of n (item 0, padding: -Infinity).
 */
export function blendContext(scores: ArrayLike<number>, similarity: ArrayLike<number>, weight: number, offset = 0, n = similarity.length): Float32Array {
  let sum = 0;
  let sq = 0;
  for (let j = 1; j < n; j++) sum += scores[offset + j];
  const mean = sum / Math.max(1, n - 1);
  for (let j = 1; j < n; j++) sq += (scores[offset + j] - mean) ** 2;
  const scale = weight * (Math.sqrt(sq / Math.max(1, n - 1)) || 1);
  const out = new Float32Array(n);
  out[0] = -Infinity;
  for (let j = 1; j < n; j++) out[j] = scores[offset + j] + scale * similarity[j];
  return out;
}

/** attributes × its weight + embeddings × its weight, per item (item 0: 0). */
export function combineSimilarities(attributes: ArrayLike<number>, embeddings: ArrayLike<number>, weights: ContextWeights): Float32Array {
  const out = new Float32Array(attributes.length);
  for (let j = 1; j < out.length; j++) out[j] = weights.attributes * attributes[j] + weights.embeddings * embeddings[j];
  return out;
}
