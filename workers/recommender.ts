// The on-device recommender: the shared SASRec model over the storefront's catalog,
// fine-tuned on this shopper's own history and persisted in IndexedDB.
import * as tf from '@tensorflow/tfjs';
import type { CatalogItem } from '../src/catalog.ts';
import { type SiloEvent } from '../src/events.ts';
import type { PopularityPrior } from '../federated/popularity.ts';
import { ItemTable, describeCatalogItem } from '../models/features.ts';
import { SasRec, type SasRecConfig, makeBatch } from '../models/sasrec.ts';
import type { EventStore, StoredModel } from './store.ts';
import { BROWSER_MODEL } from '../models/browser-model.ts';
import { PopularPicks, insertTopK } from './popular-picks.ts';

/** Events that say "this shopper cared about this item", in increasing strength. */
export const INTEREST_EVENTS: ReadonlySet<string> = new Set(['view_item', 'select_item', 'add_to_wishlist', 'add_to_cart', 'begin_checkout', 'purchase']);

export { BROWSER_MODEL } from '../models/browser-model.ts';

const TRAIN_ROWS = 4;

export interface HistoryEntry {
  index: number; // item index in the table
  event: string;
  ts: number;
}

export interface ScoredItem {
  item: CatalogItem;
  score: number;
  reason: string;
  /** the history entry nearest to the item in the model's embedding space (explanations) */
  source?: HistoryEntry;
  /** a cold-start pick placed by the popularity prior (no history to explain it by) */
  popular?: boolean;
}

/** The shopper's item sequence: interest events mapped to catalog indices, repeats collapsed. */
export function historyFromEvents(events: readonly SiloEvent[], table: ItemTable): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const e of events) {
    if (!INTEREST_EVENTS.has(e.name)) continue;
    for (const item of e.params.items ?? []) {
      const index = table.indexOf(item.item_id);
      if (index === undefined) continue;
      const last = out[out.length - 1];
      if (last && last.index === index) {
        last.event = e.name; // a cart after a view of the same item is one step, the stronger one
        last.ts = e.ts;
        continue;
      }
      out.push({ index, event: e.name, ts: e.ts });
    }
  }
  return out;
}

const VERB: Record<string, string> = {
  view_item: 'viewed',
  select_item: 'looked at',
  add_to_wishlist: 'saved',
  add_to_cart: 'added to your cart',
  begin_checkout: 'are checking out',
  purchase: 'bought',
};

async function sha256Hex(buf: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export class Recommender {
  readonly model: SasRec;
  readonly table: ItemTable;
  private readonly tableTensor: tf.Tensor2D;
  private itemCache: tf.Tensor2D | null = null;
  private readonly optimizer: tf.Optimizer;
  trainedOnEvents = 0;
  /** the picks without the model: the cold start, and the fallback when memory runs out */
  readonly popular: PopularPicks;

  constructor(
    readonly catalog: readonly CatalogItem[],
    config: Partial<SasRecConfig> = BROWSER_MODEL,
    learningRate = 3e-3,
    /** the catalog's feature rows, when the caller already has them (they hold no tensor) */
    table?: ItemTable,
  ) {
    this.model = new SasRec(config);
    this.table = table ?? new ItemTable(this.model.config.features, catalog.map(describeCatalogItem));
    this.popular = new PopularPicks(catalog, this.table);
    let tableTensor: tf.Tensor2D | undefined;
    try {
      tableTensor = tf.tensor2d(this.table.rows, [this.table.size, this.table.width], 'int32');
      this.optimizer = tf.train.adam(learningRate);
    } catch (err) {
      // out of memory half-way: free what was built, the caller carries on without a model
      this.model.dispose();
      tableTensor?.dispose();
      throw err;
    }
    this.tableTensor = tableTensor;
  }

  /**
   * Fine-tunes on the shopper's own sequence: the sequence and its recent prefixes form the
   * batch, so each known step is a next-item example once per update.
   */
  async train(history: readonly HistoryEntry[], steps: number): Promise<number> {
    const seq = history.map((h) => h.index);
    if (seq.length < 2) return NaN;
    // always TRAIN_ROWS rows (empty ones carry no targets): one tensor shape for every
    // update, so GPU backends compile their kernels once
    const prefixes: number[][] = [];
    const stride = Math.max(1, Math.floor(this.model.config.maxLen / 2));
    for (let end = seq.length; end >= 2 && prefixes.length < TRAIN_ROWS; end -= stride) prefixes.push(seq.slice(0, end));
    while (prefixes.length < TRAIN_ROWS) prefixes.push([]);
    const batch = makeBatch(prefixes, this.model.config.maxLen);
    const loss = await this.model.trainSteps(this.optimizer, batch, this.tableTensor, steps);
    this.invalidate();
    return loss;
  }

  private invalidate(): void {
    this.itemCache?.dispose();
    this.itemCache = null;
    this.scoreCache = null;
  }

  // recent list scores: a storefront re-renders the same list for one history
  private scoreCache: Map<string, Float32Array> | null = null;

  /**
   * Next-item scores of the given table indices after this history, for rerank(). Only the
   * history and the listed items are embedded (a local table, row 0 padding), so the cost
   * follows the list, not the catalog; the embeddings are per row, so the scores equal those
   * of a full-catalog scoreNext.
   */
  async scoreItems(history: readonly HistoryEntry[], indices: readonly number[]): Promise<Float32Array> {
    const seq = history.map((h) => h.index).slice(-this.model.config.maxLen);
    const key = `${seq.join(',')}|${indices.join(',')}`;
    const cached = this.scoreCache?.get(key);
    if (cached) return cached;
    const local = new Map<number, number>([[0, 0]]);
    const rows = [0];
    const localOf = (index: number) => {
      let l = local.get(index);
      if (l === undefined) local.set(index, (l = rows.push(index) - 1));
      return l;
    };
    const localSeq = seq.map(localOf);
    const localIndices = indices.map(localOf);
    const table = tf.tidy(() => tf.gather(this.tableTensor, tf.tensor1d(rows, 'int32')) as tf.Tensor2D);
    let all: Float32Array;
    try {
      all = await this.model.scoreNext([localSeq], table);
    } finally {
      table.dispose();
    }
    const scores = Float32Array.from(localIndices, (l) => all[l]);
    this.scoreCache ??= new Map();
    if (this.scoreCache.size >= 8) this.scoreCache.delete(this.scoreCache.keys().next().value!);
    this.scoreCache.set(key, scores);
    return scores;
  }

  /**
   * The federated popularity prior (federated/popularity.ts), or null for none. recommend()
   * adds its boost to the model's scores; scoreItems() (rerank) does not: rerank orders the
   * storefront's own list, which already brings the shop's order as a signal. No cached
   * score depends on the prior (scoreCache holds rerank's model-only scores), so only the
   * boosts are recomputed.
   */
  setPopularity(prior: PopularityPrior | null): void {
    this.popular.setPopularity(prior);
  }

  private items(): tf.Tensor2D {
    // kept: the cache outlives the tidy() scopes that first ask for it
    this.itemCache ??= tf.keep(this.model.itemEmbeddings(this.tableTensor));
    return this.itemCache;
  }

  /** Top-k catalog items after this history, with a reason drawn from the nearest history item. */
  async recommend(history: readonly HistoryEntry[], k: number, exclude: ReadonlySet<string> = new Set()): Promise<ScoredItem[]> {
    const seq = history.map((h) => h.index);
    const seen = new Set(seq);
    // nothing known yet: the popular picks
    if (seq.length === 0) return this.popular.pick(k, exclude);
    const candidates: { index: number; score: number }[] = [];
    const boosts = this.popular.popularityBoosts()?.byIndex;
    const scores = await this.model.scoreNext([seq], this.tableTensor, this.items());
    for (let i = 1; i < scores.length; i++) {
      const item = this.catalog[i - 1];
      if (seen.has(i) || item.in_stock === false || exclude.has(item.item_id)) continue;
      insertTopK(candidates, { index: i, score: boosts ? scores[i] + boosts[i] : scores[i] }, k);
    }
    const nearest = await this.nearestHistory(candidates.map((c) => c.index), history);
    return candidates.map((c, j) => {
      const h = nearest[j];
      const source = this.catalog[h.index - 1];
      return { item: this.catalog[c.index - 1], score: c.score, reason: `Because you ${VERB[h.event] ?? 'viewed'} ${source.item_name}`, source: h };
    });
  }

  /** For each candidate, the recent history entry whose item embedding is most similar. */
  private async nearestHistory(candidates: number[], history: readonly HistoryEntry[]): Promise<HistoryEntry[]> {
    const recent = history.slice(-this.model.config.maxLen);
    if (candidates.length === 0) return [];
    const sims = tf.tidy(() => {
      const all = this.items();
      const norm = (x: tf.Tensor2D) => tf.div(x, tf.add(tf.norm(x, 'euclidean', 1, true), 1e-8));
      const c = norm(tf.gather(all, tf.tensor1d(candidates, 'int32')));
      const h = norm(tf.gather(all, tf.tensor1d(recent.map((r) => r.index), 'int32')));
      return tf.argMax(tf.matMul(c, h, false, true), 1);
    });
    const best = await sims.data();
    sims.dispose();
    return candidates.map((_, j) => recent[best[j]]);
  }

  async embedding(history: readonly HistoryEntry[]): Promise<Float32Array> {
    return this.model.embed(history.map((h) => h.index), this.tableTensor);
  }

  async save(store: EventStore, trainedOnEvents: number): Promise<void> {
    const weights = await this.model.getWeights();
    const total = weights.reduce((n, w) => n + w.length, 0);
    const flat = new Float32Array(total);
    let o = 0;
    for (const w of weights) {
      flat.set(w, o);
      o += w.length;
    }
    const manifest = JSON.stringify({ config: this.model.config, names: this.model.names, sizes: weights.map((w) => w.length) });
    const record: StoredModel = {
      key: 'personal',
      manifest,
      weights: flat.buffer,
      sha256: await sha256Hex(flat.buffer),
      savedAt: Date.now(),
      trainedOnEvents,
    };
    await store.saveModel(record); // one put, one transaction: all or nothing
  }

  /** Restores a saved model; false (and the model untouched) if it is missing, foreign or corrupt. */
  async load(store: EventStore): Promise<boolean> {
    const record = await store.loadModel();
    if (!record) return false;
    if ((await sha256Hex(record.weights)) !== record.sha256) return false;
    const manifest = JSON.parse(record.manifest) as { config: SasRecConfig; names: string[]; sizes: number[] };
    if (JSON.stringify(manifest.names) !== JSON.stringify(this.model.names)) return false;
    const flat = new Float32Array(record.weights);
    const weights: Float32Array[] = [];
    let o = 0;
    for (const n of manifest.sizes) {
      weights.push(flat.subarray(o, o + n));
      o += n;
    }
    try {
      this.model.setWeights(weights);
    } catch {
      return false;
    }
    this.trainedOnEvents = record.trainedOnEvents;
    this.invalidate();
    return true;
  }

  dispose(): void {
    this.invalidate();
    this.tableTensor.dispose();
    this.model.dispose();
    this.optimizer.dispose();
  }
}
