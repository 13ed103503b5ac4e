// The personaliser: what the shopper sees, from the event log and the learner's model.
// recommend() and rerank() with their reasons, and the readable profile (cached per event).
import type { CatalogItem } from '../src/catalog.ts';
import type { Recommendation, RecommendRequest, RerankRequest, RerankResponse } from './api-types.ts';
import type { EventLog } from './event-log.ts';
import type { Learner } from './learner.ts';
import { injectedAllocation } from './memory.ts';
import type { CatalogStats } from './profile/catalog-stats.ts';
import { explainRecommendation, historyFromEvents as explainHistory, type HistoryEntry as ExplainEntry } from './profile/explain.ts';
import { type ShopperProfile, computeProfile, profileWithWords } from './profile/profile.ts';
import { rerank as rerankList } from './profile/rerank.ts';
import type { HistoryEntry, ScoredItem } from './recommender.ts';

/** The profile's decay moves with time: recomputed after this long even with no new event. */
const PROFILE_MAX_AGE_MS = 60_000;

export class Personaliser {
  private profileCache: { key: string; at: number; profile: ShopperProfile; explainEntries: ExplainEntry[] } | null = null;
  private lastEmbedding: number[] | null = null;
  /** bumped by clear(): an embedding computed across an erase is not kept */
  private generation = 0;

  constructor(
    private readonly catalog: readonly CatalogItem[],
    private readonly catalogStats: CatalogStats,
    private readonly log: EventLog,
    private readonly learner: Learner,
  ) {}

  /** Forgets what was derived from the shopper's events (erase). */
  clear(): void {
    this.generation++;
    this.profileCache = null;
    this.lastEmbedding = null;
  }

  /** The history with the item on screen as its latest step ("more like this"), if it is in the catalog. */
  private withContext(context: { item_id?: string } | undefined): { history: readonly HistoryEntry[]; contextIndex?: number } {
    const history = this.log.history;
    const index = context?.item_id ? this.learner.table.indexOf(context.item_id) : undefined;
    if (index === undefined) return { history };
    return { history: [...history, { index, event: 'view_item', ts: Date.now() }], contextIndex: index };
  }

  async recommend(request: RecommendRequest): Promise<Recommendation[]> {
    const k = Math.max(1, Math.min(100, Math.floor(request.k || 8)));
    const exclude = new Set(request.exclude ?? []);
    const { history, contextIndex } = this.withContext(request.context);
    if (contextIndex !== undefined) exclude.add(request.context!.item_id!);
    const scored = await this.scoreOrFallback(history, k, exclude);
    const { profile, explainEntries } = this.profileState();
    return scored.map((s) => {
      if (s.popular) {
        // placed by the popularity prior: "Popular in <category>", or with the profile's interest
        const reason = explainRecommendation(s.item, [], { profile, popular: true });
        return { item_id: s.item.item_id, score: s.score, reason: reason.text, reasonKind: reason.kind, item: s.item };
      }
      if (!s.source) return { item_id: s.item.item_id, score: s.score, reason: s.reason, item: s.item };
      // the model's nearest history item gets the attention; explain.ts keeps it only if it
      // shares a category or brand with the candidate, else falls back to the profile
      const sourceId = this.catalog[s.source.index - 1]?.item_id;
      const entries = explainEntries.map((e) => ({ ...e, attention: e.item.item_id === sourceId ? 1 : 0 }));
      const reason = explainRecommendation(s.item, entries, { profile });
      return { item_id: s.item.item_id, score: s.score, reason: reason.text, reasonKind: reason.kind, sourceItemId: reason.sourceItemId, item: s.item };
    });
  }

  /**
   * The model's picks, or, once the worker is out of memory (now or before), the popular
   * picks: the shopper still gets recommendations, just not personal ones.
   */
  private async scoreOrFallback(history: readonly HistoryEntry[], k: number, exclude: ReadonlySet<string>): Promise<ScoredItem[]> {
    if (!this.learner.memory.outOfMemory) {
      try {
        return await this.learner.withModel((r) => {
          injectedAllocation('scoring');
          return r.recommend(history, k, exclude);
        });
      } catch (err) {
        if (!this.learner.memory.check('scoring', err)) throw err;
      }
    }
    return this.learner.popularPicks(k, exclude, history);
  }

  /** Model scores of the listed items for rerank; undefined (the list ordered without them) when out of memory. */
  private async scoreListed(history: readonly HistoryEntry[], listed: number[]): Promise<Float32Array | undefined> {
    if (this.learner.memory.outOfMemory) return undefined;
    try {
      return await this.learner.withModel((r) => {
        injectedAllocation('scoring');
        return r.scoreItems(history, listed);
      });
    } catch (err) {
      if (this.learner.memory.check('scoring', err)) return undefined;
      throw err;
    }
  }

  /** The profile and explainable history, recomputed when events change or after a minute (decay). */
  private profileState(): { profile: ShopperProfile; explainEntries: ExplainEntry[] } {
    const now = Date.now();
    const events = this.log.events;
    const key = `${events.length}:${events[events.length - 1]?.ts ?? 0}`;
    if (!this.profileCache || this.profileCache.key !== key || now - this.profileCache.at > PROFILE_MAX_AGE_MS) {
      this.profileCache = {
        key,
        at: now,
        profile: computeProfile(events, this.catalogStats, now),
        explainEntries: explainHistory(events, this.catalogStats, now),
      };
    }
    return this.profileCache;
  }

  /**
   * Orders the storefront's own list for this shopper (workers/profile/rerank.ts): model score,
   * profile affinity and the shop's order blended. The model scores just the listed items
   * (cached per history and list); while it is training, the list is ordered without model
   * scores rather than waiting for the update.
   */
  async rerank(request: RerankRequest): Promise<RerankResponse> {
    const t0 = performance.now();
    if (!Array.isArray(request?.items)) throw new Error('rerank: items must be an array');
    const items: CatalogItem[] = request.items.map((raw, i) => {
      const id = raw && typeof raw === 'object' && typeof raw.item_id === 'string' && raw.item_id ? raw.item_id : undefined;
      if (!id) throw new Error(`rerank: items[${i}] has no item_id`);
      return this.catalogStats.byId.get(id) ?? ({ ...raw, item_name: String((raw as { item_name?: unknown }).item_name ?? id), price: Number(raw.price) || 0 } as CatalogItem);
    });
    const { history } = this.withContext(request.context);
    const table = this.learner.table;
    let modelScores: Map<string, number> | undefined;
    const known = items.map((item) => table.indexOf(item.item_id));
    const listed = [...new Set(known.filter((i): i is number => i !== undefined))];
    const scores = history.length && listed.length && !this.learner.busy ? await this.scoreListed(history, listed) : undefined;
    if (scores) {
      const byIndex = new Map(listed.map((index, j) => [index, scores[j]]));
      modelScores = new Map();
      items.forEach((item, i) => {
        const s = known[i] === undefined ? undefined : byIndex.get(known[i]!);
        if (s !== undefined) modelScores!.set(item.item_id, s);
      });
    }
    const { profile } = this.profileState();
    const profiled = profile.recorded.kept > 0;
    const ranked = rerankList(items, {
      modelScores,
      profile: profiled ? profile : undefined,
      catalogStats: this.catalogStats,
      weights: request.weights,
      demoteOutOfStock: request.demoteOutOfStock,
    });
    return {
      order: ranked.map((r) => r.originalIndex),
      scores: ranked.map((r) => r.score),
      modelScored: !!modelScores && modelScores.size > 0,
      profiled,
      tookMs: performance.now() - t0,
    };
  }

  /** The readable profile (workers/profile/README.md has the rules) plus the learned embedding. */
  async profile(): Promise<ShopperProfile & { words: string[]; embedding: number[] }> {
    const history = this.log.history;
    const profile = profileWithWords(this.log.events, this.catalogStats, Date.now());
    // the readable facts above are current at once; the embedding needs the model: while it
    // trains, the last one computed is served rather than waiting for a chunk
    if (!history.length) return { ...profile, embedding: [] };
    if (this.learner.busy && this.lastEmbedding) return { ...profile, embedding: this.lastEmbedding };
    // out of memory: the readable profile without the learned embedding
    if (this.learner.memory.outOfMemory) return { ...profile, embedding: this.lastEmbedding ?? [] };
    const generation = this.generation;
    let embedding: number[];
    try {
      embedding = [...(await this.learner.withModel((r) => r.embedding(history)))];
    } catch (err) {
      if (this.learner.memory.check('scoring', err)) return { ...profile, embedding: this.lastEmbedding ?? [] };
      throw err;
    }
    if (generation === this.generation) this.lastEmbedding = embedding;
    return { ...profile, embedding };
  }
}
