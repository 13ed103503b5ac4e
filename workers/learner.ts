// The learner: the shopper's personal model on the chosen tfjs backend, fine-tuned in short
// chunks that yield between them, so calls the shopper waits for (erase, profile, recommend)
// are never queued behind a whole update. It owns the model lock, the fall back to the next
// backend when one fails while running, the debounced save, and cancellation (erase).
import type { CatalogItem } from '../src/catalog.ts';
import type { PopularityPrior } from '../federated/popularity.ts';
import { type BackendChoice, type BackendName, BACKEND_ORDER, type RememberedChoice, chooseBackend, stillValid } from './backend.ts';
import { DEFAULT_FEATURES, ItemTable, describeCatalogItem } from '../models/features.ts';
import { MemoryWatch, injectedAllocation, isOutOfMemory } from './memory.ts';
import { PopularPicks, type PopularPick } from './popular-picks.ts';
import { BROWSER_MODEL, Recommender, type HistoryEntry } from './recommender.ts';
import { type EventStore, storageFault } from './store.ts';

/**
 * Optimiser steps per hold of the model lock; the worker takes other calls between chunks.
 * One: on WASM and CPU a step runs synchronously, so a call can wait for a whole chunk.
 */
const TRAIN_CHUNK_STEPS = 1;
/** A save copies every weight out of the backend: at most once per this many ms. */
const SAVE_DEBOUNCE_MS = 2000;
/** IndexedDB meta key of the remembered backend choice (erased with everything else). */
const BACKEND_META = 'backend.choice';

export interface LearnerHost {
  /** the cleaned item sequence, read afresh by every chunk */
  history(): readonly HistoryEntry[];
  /** how many events are recorded (the model has learned from all of them after an update) */
  eventCount(): number;
  /** after each update (or a failed one): listeners, federated participation */
  updated(ok: boolean): void;
}

/** A task to the back of the worker's task queue, behind messages already waiting (no timer clamp). */
export function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** One recommender and the lock its work runs under (a replaced model keeps its own lock). */
class ModelSlot {
  private lock: Promise<unknown> = Promise.resolve();
  constructor(readonly recommender: Recommender) {}

  /** Model work runs one call at a time: training must not dispose tensors a ranking is using. */
  run<T>(work: () => T | Promise<T>): Promise<T> {
    const run = this.lock.then(work);
    this.lock = run.catch(() => undefined);
    return run;
  }
}

export class Learner {
  choice: BackendChoice = { backend: 'cpu', reason: '', skipped: [] };
  lastTrainMs: number | null = null;
  lastLoss: number | null = null;
  /** why the last model update failed, if it did */
  lastError: string | null = null;
  /** out of memory stops model work for this worker; recommendations then come from `fallback` */
  readonly memory = new MemoryWatch();
  /** why the last save of the model failed for want of storage (it is kept in memory), or null */
  saveFault: string | null = null;
  /** the catalog's feature rows (no tensors): what the log, the fallback and every model share */
  table!: ItemTable;
  private fallback!: PopularPicks;
  /** null when building the model ran out of memory */
  private slot: ModelSlot | null = null;
  private popularity: PopularityPrior | null = null;
  private training: Promise<void> | null = null;
  private pendingTrain = false;
  /** bumped by cancel(): training and saves started before it stop at their next check */
  private generation = 0;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  /** the save now writing, if any (erase waits for it, so it cannot land after the clear) */
  private saving: Promise<void> | null = null;

  private catalog: readonly CatalogItem[] = [];

  private constructor(
    private readonly store: EventStore,
    private readonly order: readonly BackendName[],
    private readonly trainSteps: number,
    private readonly host: LearnerHost,
  ) {}

  /** Chooses the backend (a remembered choice first) while the catalog loads, then builds the model, untrained. */
  static async start(store: EventStore, catalog: Promise<readonly CatalogItem[]>, options: { backends?: BackendName[]; trainSteps?: number }, host: LearnerHost): Promise<Learner> {
    const learner = new Learner(store, options.backends ?? BACKEND_ORDER, options.trainSteps ?? 8, host);
    const remembered = stillValid(await store.getMeta<RememberedChoice>(BACKEND_META), learner.order);
    const [choice, items] = await Promise.all([chooseBackend(learner.order, remembered), catalog]);
    learner.choice = choice;
    learner.catalog = items;
    learner.table = new ItemTable({ ...DEFAULT_FEATURES, ...BROWSER_MODEL.features }, items.map(describeCatalogItem));
    learner.fallback = new PopularPicks(items, learner.table);
    if (!choice.rememberedAt) await learner.rememberChoice();
    learner.slot = learner.buildSlot();
    return learner;
  }

  /** A model slot, or null (and out of memory noted) when the backend cannot hold the model. */
  private buildSlot(): ModelSlot | null {
    try {
      return new ModelSlot(this.newRecommender());
    } catch (err) {
      if (this.memory.check('building', err)) return null;
      throw err;
    }
  }

  /** The personal model; throws (an out-of-memory error) when it could not be built. */
  get recommender(): Recommender {
    if (!this.slot) throw new Error(this.memory.state.message ?? 'out of memory: no personal model');
    return this.slot.recommender;
  }

  get trainedOnEvents(): number {
    return this.slot?.recommender.trainedOnEvents ?? 0;
  }

  get parameterCount(): number {
    return this.slot?.recommender.model.parameterCount ?? 0;
  }

  /**
   * Recommendations without the model (out of memory): popular in-stock items the shopper has
   * not already interacted with.
   */
  popularPicks(k: number, exclude: ReadonlySet<string>, history: readonly HistoryEntry[]): PopularPick[] {
    return this.fallback.pick(k, exclude, new Set(history.map((h) => h.index)));
  }

  /** true while an update is under way (rerank then orders without model scores) */
  get busy(): boolean {
    return this.training !== null;
  }

  /** Keeps the choice for the next visit. Never throws: it is only a cache. */
  private async rememberChoice(): Promise<void> {
    const record: RememberedChoice = { ...this.choice, order: this.order.join(','), userAgent: globalThis.navigator?.userAgent ?? '', at: this.choice.rememberedAt ?? Date.now() };
    delete record.rememberedAt;
    await this.store.setMeta(BACKEND_META, record).catch(() => undefined);
  }

  /** Restores the saved personal model; false if there is none (or it is foreign or corrupt). */
  async load(): Promise<boolean> {
    if (!this.slot || this.memory.outOfMemory) return false;
    try {
      return await this.withModel((r) => {
        injectedAllocation('loading');
        return r.load(this.store);
      });
    } catch (err) {
      // the stored model stays as it is: nothing is saved once out of memory
      if (this.memory.check('loading', err)) return false;
      throw err;
    }
  }

  setPopularity(prior: PopularityPrior | null): void {
    this.popularity = prior;
    this.fallback.setPopularity(prior);
    this.slot?.recommender.setPopularity(prior);
  }

  private newRecommender(): Recommender {
    injectedAllocation('building');
    const recommender = new Recommender(this.catalog, BROWSER_MODEL, undefined, this.table);
    recommender.setPopularity(this.popularity);
    return recommender;
  }

  /**
   * Runs model work under the model lock. If the backend fails under it (a lost GPU device, a
   * driver reset), moves to the next backend in the order, restores the last saved model and
   * retries once.
   */
  withModel<T>(work: (recommender: Recommender) => T | Promise<T>): Promise<T> {
    const slot = this.slot;
    if (!slot) return Promise.reject(new Error(this.memory.state.message ?? 'out of memory: no personal model'));
    return slot.run(() => (slot === this.slot ? this.runWithFallback(slot, work) : this.withModel(work)));
  }

  private async runWithFallback<T>(slot: ModelSlot, work: (recommender: Recommender) => T | Promise<T>): Promise<T> {
    try {
      return await work(slot.recommender);
    } catch (err) {
      // another backend would rebuild the model: more memory in a worker that has none left
      if (isOutOfMemory(err)) throw err;
      const failed = this.choice.backend;
      const rest = this.order.slice(this.order.indexOf(failed) + 1);
      if (rest.length === 0 || slot !== this.slot) throw err;
      const reason = `failed while running: ${(err as Error).message}`;
      const choice = await chooseBackend(rest);
      this.choice = { backend: choice.backend, reason: choice.reason, skipped: [...this.choice.skipped, { backend: failed, reason }, ...choice.skipped] };
      await this.rememberChoice();
      // the old backend's tensors may be unreadable: rebuild, then take the last saved weights
      const recommender = this.newRecommender();
      await recommender.load(this.store);
      const replacement = (this.slot = new ModelSlot(recommender));
      return replacement.run(() => work(recommender));
    }
  }

  /** New events: update the model (now, or after the update under way). */
  schedule(): void {
    // out of memory: training stays stopped (a retry would fail the same way, over and over)
    if (this.memory.outOfMemory) return;
    if (this.training) {
      this.pendingTrain = true;
      return;
    }
    const generation = this.generation;
    this.training = this.trainUntilCurrent(generation).finally(() => {
      this.training = null;
      // events recorded after a cancel start a fresh update
      if (this.pendingTrain) this.schedule();
    });
  }

  private async trainUntilCurrent(generation: number): Promise<void> {
    // the call that scheduled this (record) replies first
    await yieldToEvents();
    do {
      this.pendingTrain = false;
      await this.update(generation);
      await yieldToEvents();
    } while (this.pendingTrain && generation === this.generation && !this.memory.outOfMemory);
  }

  /** One update of trainSteps steps, TRAIN_CHUNK_STEPS per turn of the lock; stops when cancelled. */
  private async update(generation: number): Promise<void> {
    const t0 = performance.now();
    const eventsSeen = this.host.eventCount();
    try {
      let loss = NaN;
      for (let done = 0; done < this.trainSteps; done += TRAIN_CHUNK_STEPS) {
        if (generation !== this.generation) return;
        const steps = Math.min(TRAIN_CHUNK_STEPS, this.trainSteps - done);
        loss = await this.withModel(async (recommender) => {
          // each chunk reads the latest history
          const history = this.host.history();
          injectedAllocation('training');
          const value = await recommender.train(history, steps);
          // a backend that computes NaN has failed as surely as one that throws: never keep
          // (or save) its weights; the fallback restores the last saved model elsewhere
          if (Number.isNaN(value) && history.length >= 2) throw new Error('training produced NaN');
          return value;
        });
        await yieldToEvents();
      }
      if (generation !== this.generation) return;
      this.lastTrainMs = performance.now() - t0;
      this.lastLoss = Number.isFinite(loss) ? loss : null;
      this.lastError = null;
      this.recommender.trainedOnEvents = eventsSeen;
      this.scheduleSave();
      this.host.updated(true);
    } catch (err) {
      if (generation !== this.generation) return;
      // events stay stored; the next event tries again, unless memory ran out: then a step may
      // have failed half-way through the weights, so no save is made from them
      if (this.memory.check('training', err)) this.cancelSave();
      this.lastError = (err as Error).message;
      this.host.updated(false);
    }
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    const generation = this.generation;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      // under the model lock: on GPU backends the weights are read back asynchronously, and a
      // training step in between would dispose tensors the read is waiting for
      void this.withModel(async (recommender) => {
        if (generation !== this.generation || this.memory.outOfMemory) return;
        this.saving = recommender.save(this.store, recommender.trainedOnEvents);
        try {
          await this.saving;
          this.saveFault = null;
        } finally {
          this.saving = null;
        }
      }).catch((err) => {
        this.lastError = `saving the model: ${(err as Error).message}`;
        // no room for the model (a private window's small quota): it stays in memory, in use
        if (storageFault(err) === 'quota') this.saveFault = (err as Error).message || 'storage quota exceeded';
      });
    }, SAVE_DEBOUNCE_MS);
  }

  /** Resolves once the model has learned from every event recorded so far. */
  async settled(): Promise<void> {
    while (this.training) await this.training;
  }

  /**
   * Stops training and saving for erase: the update under way stops after its current chunk
   * and keeps nothing; a save already writing is waited for, so the caller's clear comes after it.
   */
  async cancel(): Promise<void> {
    this.generation++;
    this.pendingTrain = false;
    this.cancelSave();
    await this.saving?.catch(() => undefined);
  }

  private cancelSave(): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
  }

  /** A fresh model at its initial weights; the old one is disposed once its current work is done. */
  reset(): void {
    const old = this.slot;
    if (old) void old.run(() => old.recommender.dispose());
    this.slot = this.memory.outOfMemory ? null : this.buildSlot();
    this.lastTrainMs = null;
    this.lastLoss = null;
    this.lastError = null;
  }
}
