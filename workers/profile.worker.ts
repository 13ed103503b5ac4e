// The profile worker: owns IndexedDB and TensorFlow.js, so the storefront's main thread
// never pays for either. The main thread talks to it through comlink (see src/worker-client.ts).
import * as Comlink from 'comlink';
import { parseCatalog, type CatalogItem } from '../src/catalog.ts';
import type { SiloEvent } from '../src/events.ts';
import type { RejectionReport } from '../src/tracker.ts';
import { type BackendChoice, type BackendName, chooseBackend } from './backend.ts';
import { buildCatalogStats, type CatalogStats } from './profile/catalog-stats.ts';
import { cleanEvents } from './profile/clean.ts';
import { type ShopperProfile, computeProfile, profileWithWords } from './profile/profile.ts';
import { explainRecommendation, historyFromEvents as explainHistory, type HistoryEntry as ExplainEntry, type ReasonKind } from './profile/explain.ts';
import { rerank as rerankList, type RerankContext } from './profile/rerank.ts';
import type { Ga4Item } from '../src/events.ts';
import { INTEREST_EVENTS, Recommender, historyFromEvents, type HistoryEntry } from './recommender.ts';
import { DEFAULT_RETENTION, EventStore, type RetentionPolicy, openStore } from './store.ts';
import { FederatedParticipant, type ParticipantState } from './federated-participant.ts';
import type { PopularityPrior } from '../federated/popularity.ts';

/** Optimiser steps per hold of the model lock while training (see scheduleTraining). */
const TRAIN_CHUNK_STEPS = 2;

export interface WorkerOptions {
  catalogUrl: string;
  backends?: BackendName[];
  retention?: RetentionPolicy;
  /** optimiser steps after each batch of new events */
  trainSteps?: number;
  dbName?: string;
  /**
   * the federated aggregator's base URL (server/PROTOCOL.md); default: the catalog's origin.
   * null: none, so no federated request at all (no global model, no popularity prior, no rounds)
   */
  federatedServer?: string | null;
}

export interface RecommendRequest {
  k: number;
  exclude?: string[];
  context?: { item_id?: string };
}

export interface Recommendation {
  item_id: string;
  score: number;
  reason: string;
  /** what the reason rests on (workers/profile/explain.ts) and the history item it names */
  reasonKind?: ReasonKind;
  sourceItemId?: string;
  item: CatalogItem;
}

export interface RerankRequest {
  /** the storefront's list, its order first; only item_id is required (catalog fields win) */
  items: Ga4Item[];
  /** item_id: the product on screen, read by the model as the latest step (as in recommend) */
  context?: { item_id?: string };
  weights?: RerankContext['weights'];
  demoteOutOfStock?: boolean;
}

export interface RerankResponse {
  /** order[k] = index in the request's list of the item placed k-th */
  order: number[];
  scores: number[];
  /** false when no model scores were used (no history yet, or the model was busy training) */
  modelScored: boolean;
  profiled: boolean;
  /** time spent in the worker, ms */
  tookMs: number;
}

/** The stored count of rejected events, with the ids of the reports last added to it. */
interface RejectionLedger {
  total: number;
  reports: string[];
}
/** more than a page can have sent but not yet seen acknowledged when its worker crashes */
const REJECTION_REPORTS_KEPT = 64;

export interface WorkerStatus {
  backend: BackendName | null;
  skipped: BackendChoice['skipped'];
  events: number;
  rejected: number;
  catalogSize: number;
  modelParameters: number;
  trainedOnEvents: number;
  lastTrainMs: number | null;
  lastLoss: number | null;
  /** why the last model update failed, if it did */
  lastError: string | null;
  paused: boolean;
  /** the participation setting and its state (popularityVersion: the prior in use, also when not participating) */
  federated: { participate: boolean; epsilon?: number; delta?: number } & Partial<ParticipantState>;
}

type UpdateListener = (info: { events: number; trainedOnEvents: number }) => void;

export class SiloWorker {
  private store!: EventStore;
  private recommender!: Recommender;
  private catalog: CatalogItem[] = [];
  private catalogStats!: CatalogStats;
  private participate = false;
  private choice: BackendChoice = { backend: 'cpu', skipped: [] };
  private history: HistoryEntry[] = [];
  private events: SiloEvent[] = [];
  private rejected = 0;
  /** ids of the rejection reports counted last (a bounded window: a resent report is a recent one) */
  private rejectionReports: string[] = [];
  private paused = false;
  private trainSteps = 8;
  private training: Promise<void> | null = null;
  private pendingTrain = false;
  private lastTrainMs: number | null = null;
  private lastLoss: number | null = null;
  private lastError: string | null = null;
  private listeners: UpdateListener[] = [];
  private saveTimer: ReturnType<typeof setTimeout> | null = null;

  private backendOrder: BackendName[] = [];
  private participant: FederatedParticipant | null = null;
  /** the federated popularity prior; kept here so a rebuilt recommender gets it too */
  private popularity: PopularityPrior | null = null;

  /** A recommender over the catalog with the current prior (init, backend fallback, erase). */
  private newRecommender(): Recommender {
    const recommender = new Recommender(this.catalog);
    recommender.setPopularity(this.popularity);
    return recommender;
  }

  async init(options: WorkerOptions): Promise<WorkerStatus> {
    this.trainSteps = options.trainSteps ?? 8;
    this.backendOrder = options.backends ?? ['webgpu', 'webgl', 'wasm', 'cpu'];
    const [db, catalogResponse, choice] = await Promise.all([
      openStore(options.dbName),
      fetch(options.catalogUrl),
      chooseBackend(options.backends),
    ]);
    this.choice = choice;
    this.store = new EventStore(db, options.retention ?? DEFAULT_RETENTION);
    if (!catalogResponse.ok) throw new Error(`catalog ${options.catalogUrl}: HTTP ${catalogResponse.status}`);
    this.catalog = parseCatalog(await catalogResponse.json());
    this.catalogStats = buildCatalogStats(this.catalog);
    this.recommender = this.newRecommender();
    await this.store.prune();
    this.participate = (await this.store.getMeta<boolean>('federated.participate')) ?? false;
    this.events = await this.store.all();
    const rejections = await this.store.getMeta<number | RejectionLedger>('rejected');
    // a number before reports had ids (IndexedDB v2)
    this.rejected = typeof rejections === 'number' ? rejections : (rejections?.total ?? 0);
    this.rejectionReports = typeof rejections === 'object' ? rejections.reports : [];
    this.paused = (await this.store.getMeta<boolean>('paused')) ?? false;
    this.history = this.learnableHistory();
    let restored = await this.recommender.load(this.store);
    this.participant = options.federatedServer === null ? null : new FederatedParticipant(this.store, options.federatedServer ?? new URL(options.catalogUrl).origin, {
      recommender: () => this.recommender,
      sequence: () => this.history.map((h) => h.index),
      runModelWork: (work) => this.withFallback(work),
      paused: () => this.paused,
      usePopularity: (prior) => {
        this.popularity = prior;
        this.recommender.setPopularity(prior);
        this.notify(); // the recommendations may have changed
      },
    });
    // public downloads that send nothing, side by side: the popularity prior (every shopper),
    // and, with no model of the shopper's own yet, the published global model as its start
    // (random init when there is none)
    const popularity = this.participant?.refreshPopularity();
    if (!restored && this.participant) restored = await this.participant.adoptGlobalModel();
    await popularity;
    if (this.participate) this.participant?.start();
    if (!restored || this.recommender.trainedOnEvents < this.events.length) this.scheduleTraining();
    return this.status();
  }

  onUpdate(listener: UpdateListener): void {
    this.listeners.push(listener);
  }

  /** Stores validated events (one transaction; ones already stored are skipped) and schedules a model update. */
  async record(events: SiloEvent[], rejections: RejectionReport[] = []): Promise<number> {
    const fresh = rejections.filter((r) => !this.rejectionReports.includes(r.id));
    if (fresh.length > 0) {
      this.rejected += fresh.reduce((sum, r) => sum + r.count, 0);
      this.rejectionReports = this.rejectionReports.concat(fresh.map((r) => r.id)).slice(-REJECTION_REPORTS_KEPT);
      await this.store.setMeta('rejected', { total: this.rejected, reports: this.rejectionReports } satisfies RejectionLedger);
    }
    if (this.paused || events.length === 0) return 0;
    const stored = await this.store.append(events);
    this.events.push(...stored);
    if (this.events.length > 2 * (await this.store.count())) this.events = await this.store.all();
    // impressions and searches do not change the item sequence: nothing new to learn, and
    // re-cleaning the whole history for them would make bulk writes quadratic
    if (!stored.some((e) => INTEREST_EVENTS.has(e.name))) return stored.length;
    const before = this.history.length;
    this.history = this.learnableHistory();
    if (this.history.length !== before) {
      // the model reads the new sequence at once; training then refines it
      this.notify();
      this.scheduleTraining();
    }
    return stored.length;
  }

  /** The item sequence the model learns from: duplicates, bursts and bad timestamps removed. */
  private learnableHistory(): HistoryEntry[] {
    return historyFromEvents(cleanEvents(this.events, Date.now()).kept, this.recommender.table);
  }

  private notify(): void {
    for (const l of this.listeners) l({ events: this.events.length, trainedOnEvents: this.recommender.trainedOnEvents });
  }

  private scheduleTraining(): void {
    if (this.training) {
      this.pendingTrain = true;
      return;
    }
    this.training = (async () => {
      do {
        this.pendingTrain = false;
        const t0 = performance.now();
        const eventsSeen = this.events.length;
        try {
          // a few steps per turn of the model lock, so a recommend() or rerank() waits for
          // one short chunk, not the whole update (each chunk reads the latest history)
          let loss = NaN;
          for (let done = 0; done < this.trainSteps; done += TRAIN_CHUNK_STEPS) {
            loss = await this.withFallback(async () => {
              const value = await this.recommender.train(this.history, Math.min(TRAIN_CHUNK_STEPS, this.trainSteps - done));
              // a backend that computes NaN has failed as surely as one that throws: never keep
              // (or save) its weights; the fallback restores the last saved model elsewhere
              if (Number.isNaN(value) && this.history.length >= 2) throw new Error('training produced NaN');
              return value;
            });
          }
          this.lastTrainMs = performance.now() - t0;
          this.lastLoss = Number.isFinite(loss) ? loss : null;
          this.lastError = null;
          this.recommender.trainedOnEvents = eventsSeen;
          this.scheduleSave();
          this.participant?.dataChanged();
        } catch (err) {
          // events stay stored; the next event tries again. Reported through status().
          this.lastError = (err as Error).message;
        }
        this.notify();
        // yield so queued recommend() calls run between updates
        await new Promise((r) => setTimeout(r, 0));
      } while (this.pendingTrain);
      this.training = null;
    })();
  }

  /** Saves at most every two seconds: a save copies every weight out of the backend. */
  private scheduleSave(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      // under the model lock: on GPU backends the weights are read back asynchronously, and a
      // training step in between would dispose tensors the read is waiting for
      void this.withModelLock(() => this.recommender.save(this.store, this.recommender.trainedOnEvents)).catch((err) => {
        this.lastError = `saving the model: ${(err as Error).message}`;
      });
    }, 2000);
  }

  /**
   * Runs model work; if the backend fails under it (a lost GPU device, a driver reset),
   * moves to the next backend in the order, restores the last saved model and retries once.
   */
  private modelLock: Promise<unknown> = Promise.resolve();

  /** Model work runs one call at a time: training must not dispose tensors a ranking is using. */
  private withModelLock<T>(work: () => T | Promise<T>): Promise<T> {
    const run = this.modelLock.then(work);
    this.modelLock = run.catch(() => undefined);
    return run;
  }

  private withFallback<T>(work: () => T | Promise<T>): Promise<T> {
    return this.withModelLock(() => this.runWithFallback(work));
  }

  private async runWithFallback<T>(work: () => T | Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      const failed = this.choice.backend;
      const rest = this.backendOrder.slice(this.backendOrder.indexOf(failed) + 1);
      if (rest.length === 0) throw err;
      const reason = `failed while running: ${(err as Error).message}`;
      const next = await chooseBackend(rest);
      this.choice = { backend: next.backend, skipped: [...this.choice.skipped, { backend: failed, reason }, ...next.skipped] };
      // the old backend's tensors may be unreadable: rebuild, then take the last saved weights
      this.recommender = this.newRecommender();
      await this.recommender.load(this.store);
      return work();
    }
  }

  /** Resolves once the model has learned from every event recorded so far. */
  async settled(): Promise<void> {
    while (this.training) await this.training;
  }

  async recommend(request: RecommendRequest): Promise<Recommendation[]> {
    const k = Math.max(1, Math.min(100, Math.floor(request.k || 8)));
    const exclude = new Set(request.exclude ?? []);
    let history = this.history;
    if (request.context?.item_id) {
      // "more like the one on screen": treat the current item as the latest step
      const index = this.recommender.table.indexOf(request.context.item_id);
      if (index !== undefined) {
        history = [...history, { index, event: 'view_item', ts: Date.now() }];
        exclude.add(request.context.item_id);
      }
    }
    const scored = await this.withFallback(() => this.recommender.recommend(history, k, exclude));
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

  private profileCache: { key: string; at: number; profile: ShopperProfile; explainEntries: ExplainEntry[] } | null = null;

  /** The profile and explainable history, recomputed when events change or after a minute (decay). */
  private profileState(): { profile: ShopperProfile; explainEntries: ExplainEntry[] } {
    const now = Date.now();
    const key = `${this.events.length}:${this.events[this.events.length - 1]?.ts ?? 0}`;
    if (!this.profileCache || this.profileCache.key !== key || now - this.profileCache.at > 60_000) {
      this.profileCache = {
        key,
        at: now,
        profile: computeProfile(this.events, this.catalogStats, now),
        explainEntries: explainHistory(this.events, this.catalogStats, now),
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
    let history = this.history;
    const contextIndex = request.context?.item_id ? this.recommender.table.indexOf(request.context.item_id) : undefined;
    if (contextIndex !== undefined) history = [...history, { index: contextIndex, event: 'view_item', ts: Date.now() }];
    let modelScores: Map<string, number> | undefined;
    const known = items.map((item) => this.recommender.table.indexOf(item.item_id));
    const listed = [...new Set(known.filter((i): i is number => i !== undefined))];
    // the model scores only what the shop listed; while it is training, no waiting
    if (history.length && listed.length && !this.training) {
      const scores = await this.withFallback(() => this.recommender.scoreItems(history, listed));
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

  async status(): Promise<WorkerStatus> {
    return {
      backend: this.choice.backend,
      skipped: this.choice.skipped,
      events: this.store ? await this.store.count() : 0,
      rejected: this.rejected,
      catalogSize: this.catalog.length,
      modelParameters: this.recommender?.model.parameterCount ?? 0,
      trainedOnEvents: this.recommender?.trainedOnEvents ?? 0,
      lastTrainMs: this.lastTrainMs,
      lastLoss: this.lastLoss,
      lastError: this.lastError,
      paused: this.paused,
      federated: { participate: this.participate, ...this.participant?.state },
    };
  }

  async pause(paused: boolean): Promise<void> {
    this.paused = paused;
    await this.store.setMeta('paused', paused);
  }

  /** The readable profile (workers/profile/README.md has the rules) plus the learned embedding. */
  async profile(): Promise<ShopperProfile & { words: string[]; embedding: number[] }> {
    const profile = profileWithWords(this.events, this.catalogStats, Date.now());
    // the readable facts above are current at once; the embedding needs the model, which a
    // training run may hold for a few hundred ms: then the last one computed is served
    if (!this.history.length) return { ...profile, embedding: [] };
    if (!this.training || !this.lastEmbedding) {
      this.lastEmbedding = [...(await this.withFallback(() => this.recommender.embedding(this.history)))];
    }
    return { ...profile, embedding: this.lastEmbedding };
  }

  private lastEmbedding: number[] | null = null;

  /** The shopper's federated-learning choice, kept on the device. */
  async federated(options: { participate: boolean }): Promise<void> {
    this.participate = options.participate;
    await this.store.setMeta('federated.participate', options.participate);
    if (!this.participant) return;
    if (options.participate) {
      await this.participant.adoptGlobalModel();
      this.participant.start();
    } else await this.participant.stop();
  }

  /** Everything Silo holds about this shopper, as plain JSON. */
  async exportAll(): Promise<{ exportedAt: string; events: SiloEvent[]; rejected: number; model: { parameters: number; trainedOnEvents: number } }> {
    return {
      exportedAt: new Date().toISOString(),
      events: await this.store.all(),
      rejected: this.rejected,
      model: { parameters: this.recommender.model.parameterCount, trainedOnEvents: this.recommender.trainedOnEvents },
    };
  }

  /** Forgets everything: stored events, counters, the personal model (back to its initial weights). */
  async erase(): Promise<void> {
    await this.settled();
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    await this.participant?.settled();
    // under the model lock, after any save already queued there, so none can land after it
    await this.withModelLock(async () => {
      await this.store.clearAll();
      this.recommender.dispose();
      this.recommender = this.newRecommender();
    });
    this.lastEmbedding = null;
    // a pause or a participation choice is a setting, not data about the shopper
    if (this.paused) await this.store.setMeta('paused', true);
    if (this.participate) await this.store.setMeta('federated.participate', true);
    this.events = [];
    this.history = [];
    this.rejected = 0;
    this.rejectionReports = [];
    this.profileCache = null;
    // a fresh personal model starts from the global one again, as on a first visit
    if (this.participate) await this.participant?.adoptGlobalModel();
  }
}

export type SiloWorkerApi = SiloWorker;

Comlink.expose(new SiloWorker());
