// The profile worker: owns IndexedDB and TensorFlow.js, so the storefront's main thread
// never pays for either. The main thread talks to it through comlink (see src/api.ts).
// This file is the comlink facade; the work is done by
//   event-log.ts     what was recorded (over store.ts), rejections, the learnable history
//   learner.ts       the personal model: backend, chunked training, saves, cancellation
//   personaliser.ts  recommend, rerank and the profile
//   federated-participant.ts  federated rounds, when the shopper opted in
import * as Comlink from 'comlink';
import { parseCatalog, type CatalogItem } from '../src/catalog.ts';
import type { SiloEvent } from '../src/events.ts';
import type { RejectionReport } from '../src/tracker.ts';
import type { Recommendation, RecommendRequest, RerankRequest, RerankResponse, StorageState, UpdateListener, WorkerOptions, WorkerStatus } from './api-types.ts';
import { EventLog } from './event-log.ts';
import { FederatedParticipant } from './federated-participant.ts';
import { Learner } from './learner.ts';
import { Personaliser } from './personaliser.ts';
import { buildCatalogStats } from './profile/catalog-stats.ts';
import type { ShopperProfile } from './profile/profile.ts';
import { DEFAULT_RETENTION, EventStore, isClosedForUpgrade, openStore } from './store.ts';

export type { MemoryState, Recommendation, RecommendRequest, RerankRequest, RerankResponse, StorageState, WorkerOptions, WorkerStatus } from './api-types.ts';

async function loadCatalog(url: string): Promise<CatalogItem[]> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`catalog ${url}: HTTP ${response.status}`);
  return parseCatalog(await response.json());
}

export class SiloWorker {
  private store!: EventStore;
  private log!: EventLog;
  private learner!: Learner;
  private personaliser!: Personaliser;
  private participant: FederatedParticipant | null = null;
  private catalogSize = 0;
  private participate = false;
  private paused = false;
  private listeners: UpdateListener[] = [];

  async init(options: WorkerOptions): Promise<WorkerStatus> {
    const catalog = loadCatalog(options.catalogUrl);
    this.store = new EventStore(await openStore(options.dbName), options.retention ?? DEFAULT_RETENTION);
    this.learner = await Learner.start(this.store, catalog, options, {
      history: () => this.log.history,
      eventCount: () => this.log.events.length,
      updated: (ok) => {
        if (ok) this.participant?.dataChanged();
        this.notify();
      },
    });
    const items = await catalog;
    this.catalogSize = items.length;
    this.log = new EventLog(this.store, this.learner.table);
    this.personaliser = new Personaliser(items, buildCatalogStats(items), this.log, this.learner);
    await this.store.prune();
    this.participate = (await this.store.getMeta<boolean>('federated.participate')) ?? false;
    this.paused = (await this.store.getMeta<boolean>('paused')) ?? false;
    await this.log.load();
    let restored = await this.learner.load();
    this.participant = options.federatedServer === null ? null : new FederatedParticipant(this.store, options.federatedServer ?? new URL(options.catalogUrl).origin, {
      recommender: () => this.learner.recommender,
      itemKeys: () => this.learner.table.keys,
      sequence: () => this.log.history.map((h) => h.index),
      runModelWork: (work) =>
        this.learner.withModel((recommender) => {
          // out of memory: a round's training would fail the same way (reported in its state)
          if (this.learner.memory.outOfMemory) throw new Error(this.learner.memory.state.message ?? 'out of memory');
          // a model replaced by erase meanwhile must not be trained from the erased history
          if (recommender !== this.learner.recommender) throw new Error('the personal model was reset');
          return work();
        }),
      paused: () => this.paused,
      usePopularity: (prior) => {
        this.learner.setPopularity(prior);
        this.notify(); // the recommendations may have changed
      },
    }, { helperOrigin: options.helperOrigin });
    // public downloads that send nothing, side by side: the popularity prior (every shopper),
    // and, with no model of the shopper's own yet, the published global model as its start
    // (random init when there is none)
    const popularity = this.participant?.refreshPopularity();
    if (!restored && this.participant && !this.learner.memory.outOfMemory) restored = await this.participant.adoptGlobalModel();
    await popularity;
    if (this.participate) this.participant?.start();
    if (!restored || this.learner.trainedOnEvents < this.log.events.length) this.learner.schedule();
    return this.status();
  }

  onUpdate(listener: UpdateListener): void {
    this.listeners.push(listener);
  }

  private notify(): void {
    for (const l of this.listeners) l({ events: this.log.events.length, trainedOnEvents: this.learner.trainedOnEvents });
  }

  /** Stores validated events (one transaction; ones already stored are skipped) and schedules a model update. */
  async record(events: SiloEvent[], rejections: RejectionReport[] = []): Promise<number> {
    const { stored, historyChanged } = await this.log.record(events, rejections, this.paused);
    if (historyChanged) {
      // the model reads the new sequence at once; training then refines it
      this.notify();
      this.learner.schedule();
    }
    return stored;
  }

  /** Resolves once the model has learned from every event recorded so far. */
  settled(): Promise<void> {
    return this.learner.settled();
  }

  recommend(request: RecommendRequest): Promise<Recommendation[]> {
    return this.personaliser.recommend(request);
  }

  rerank(request: RerankRequest): Promise<RerankResponse> {
    return this.personaliser.rerank(request);
  }

  profile(): Promise<ShopperProfile & { words: string[]; embedding: number[] }> {
    return this.personaliser.profile();
  }

  async status(): Promise<WorkerStatus> {
    const choice = this.learner?.choice;
    const remembered = choice?.rememberedAt ? ` (chosen ${new Date(choice.rememberedAt).toISOString()}, remembered on this device)` : '';
    return {
      backend: choice?.backend ?? null,
      skipped: choice?.skipped ?? [],
      backendReason: choice ? choice.reason + remembered : undefined,
      // a database closed for another tab's upgrade cannot be counted: what this worker holds
      events: this.store ? await this.store.count().catch(() => this.log.events.length) : 0,
      rejected: this.log?.rejected ?? 0,
      catalogSize: this.catalogSize,
      modelParameters: this.learner?.parameterCount ?? 0,
      trainedOnEvents: this.learner?.trainedOnEvents ?? 0,
      lastTrainMs: this.learner?.lastTrainMs ?? null,
      lastLoss: this.learner?.lastLoss ?? null,
      lastError: this.learner?.lastError ?? null,
      paused: this.paused,
      storage: this.storageState(),
      memory: this.learner?.memory.state,
      federated: { participate: this.participate, ...this.participant?.state },
    };
  }

  private storageState(): StorageState {
    const state = this.log?.storage ?? { state: 'ok', unsaved: 0, message: null };
    if (state.state === 'ok' && isClosedForUpgrade()) return { state: 'blocked', unsaved: 0, message: 'the database was closed for a newer version of Silo in another tab: reload this page' };
    const saveFault = this.learner?.saveFault;
    if (state.state === 'ok' && saveFault) {
      return {
        state: 'quota',
        unsaved: 0,
        model: 'in-memory',
        message: `the personal model does not fit in this browser's storage quota (${saveFault}; a private window allows little): it is used on this page and learned again from the stored events on the next visit; every event is stored`,
      };
    }
    return state;
  }

  async pause(paused: boolean): Promise<void> {
    this.paused = paused;
    await this.store.setMeta('paused', paused);
  }

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
      rejected: this.log.rejected,
      model: { parameters: this.learner.parameterCount, trainedOnEvents: this.learner.trainedOnEvents },
    };
  }

  /**
   * Forgets everything: stored events, counters, the personal model (back to its initial
   * weights). Training under way is cancelled, not waited for: it stops after its current
   * chunk and keeps nothing, and a federated round in progress sends nothing it computed.
   */
  async erase(): Promise<void> {
    await this.learner.cancel();
    this.participant?.forget();
    await this.store.clearAll();
    this.log.clear();
    this.personaliser.clear();
    this.learner.reset();
    // a pause or a participation choice is a setting, not data about the shopper (the
    // remembered backend choice goes too: erase leaves nothing the shopper did not choose)
    if (this.paused) await this.store.setMeta('paused', true);
    if (this.participate) await this.store.setMeta('federated.participate', true);
    // a fresh personal model starts from the global one again, as on a first visit (a
    // download: not waited for)
    if (this.participate) void this.participant?.adoptGlobalModel();
  }
}

export type SiloWorkerApi = SiloWorker;

Comlink.expose(new SiloWorker());
