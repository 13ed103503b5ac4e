// The public API a storefront uses, on `window.silo` and as an ESM import. It is a thin
// main-thread shell: validation and queueing here, everything else in the worker.
import * as Comlink from 'comlink';
import type { EventSource, TrackResult } from './events.ts';
import { Tracker, listenToDataLayer } from './tracker.ts';
import type { BackendName } from '../workers/backend.ts';
import { startWorker } from './worker-start.ts';
import type { MemoryState, Recommendation, RecommendRequest, RerankRequest, SiloWorkerApi, StorageState, WorkerStatus } from '../workers/profile.worker.ts';

export type { MemoryState, Recommendation, RecommendRequest, StorageState, WorkerStatus, TrackResult };

/** What status() returns: the worker's status plus the main thread's own counts. */
/** Why nothing is being recorded: the shopper paused it, declined, their browser sends Global Privacy Control, or the page requires consent not yet given. */
export type NotRecordingReason = 'paused' | 'declined' | 'global-privacy-control' | 'consent-required';

export type SiloStatus = WorkerStatus & { accepted: number; pending: number; recording: boolean; notRecording: NotRecordingReason | null; failure: string | null; aggregator: string | null };

export interface RerankOptions {
  /** item_id: the product on screen (a "more like this" list is ordered after it) */
  context?: { item_id?: string };
  /** blend of model score, profile affinity and the shop's own order (default 0.5 / 0.3 / 0.2) */
  weights?: { model: number; affinity: number; shop: number };
  /** default true: items with in_stock === false go last */
  demoteOutOfStock?: boolean;
}

/** Longest list rerank() accepts: a storefront page, not a catalog. */
export const RERANK_MAX_ITEMS = 1000;

export interface SiloOptions {
  /** URL of the storefront's public catalog (JSON array of GA4 items) */
  catalog: string;
  /** 'required': record nothing until consent(true); 'implied' (default): record unless denied or GPC */
  consent?: 'required' | 'implied';
  /** tfjs backends to try, in order (default webgpu, webgl, wasm, cpu) */
  backends?: BackendName[];
  maxEvents?: number;
  maxAgeDays?: number;
  trainSteps?: number;
  onError?: (reason: string, event: { name: unknown; params: unknown }) => void;
  /** listen to window.dataLayer (default true) */
  dataLayer?: boolean;
  /** IndexedDB database name (tests use their own) */
  dbName?: string;
  /**
   * base URL of the federated aggregator (its API is under /fl/v1). Unset: no federated
   * learning, and no request to any aggregator (no global model, no popularity prior).
   */
  federatedServer?: string;
  /**
   * the origin of the helper aggregator this storefront agreed to (secure popularity rounds):
   * a task naming any other helper is refused, so the leader cannot swap in one it controls
   */
  helperOrigin?: string;
}

const CONSENT_KEY = 'silo.consent';

function globalPrivacyControl(): boolean {
  return typeof navigator !== 'undefined' && (navigator as { globalPrivacyControl?: boolean }).globalPrivacyControl === true;
}

function readConsent(): 'granted' | 'denied' | null {
  try {
    const v = localStorage.getItem(CONSENT_KEY);
    return v === 'granted' || v === 'denied' ? v : null;
  } catch {
    return null; // storage blocked: behave as if nothing was decided
  }
}

/** A worker that crashes is restarted this many times per page before Silo gives up. */
const MAX_WORKER_RESTARTS = 1;

/** The worker died under a call, or Silo stood down (its promise would otherwise never settle). */
class WorkerLost extends Error {}

/**
 * One worker and the calls made on it. A call waits for this worker's own init, and settles
 * (rejects with WorkerLost) when this worker crashes or is stopped: a reply that will never
 * come must not leave the page's promise pending.
 */
interface WorkerConnection {
  remote: Comlink.Remote<SiloWorkerApi>;
  /** the worker's status once init has finished */
  ready: Promise<WorkerStatus>;
  /** rejects when the worker is lost */
  lost: Promise<never>;
  /** true once init has finished (rerank() does not wait for it) */
  started: boolean;
  lose(reason: string): void;
}

export class Silo extends EventTarget {
  private readonly tracker: Tracker;
  private connection!: WorkerConnection;
  private failure: string | null = null;
  private restarts = 0;

  constructor(readonly options: SiloOptions) {
    super();
    this.tracker = new Tracker({ onError: options.onError });
    this.tracker.recording = this.mayRecord();
    if (options.dataLayer !== false && typeof window !== 'undefined') {
      listenToDataLayer(window as { dataLayer?: unknown[] }, (n, p, s) => this.tracker.track(n, p, s));
    }
    this.start();
    if (typeof document !== 'undefined') {
      // a tab being hidden may be a tab being closed: hand the queue over now
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'hidden') void this.tracker.flush();
      });
    }
  }

  private mayRecord(): boolean {
    const decided = readConsent();
    if (decided) return decided === 'granted';
    if (globalPrivacyControl()) return false;
    return this.options.consent !== 'required';
  }

  private notRecording(paused: boolean): NotRecordingReason | null {
    if (this.tracker.recording) return null;
    if (paused) return 'paused';
    if (readConsent() === 'denied') return 'declined';
    return globalPrivacyControl() ? 'global-privacy-control' : 'consent-required';
  }

  /** Resolves with the worker's status once it is running (again, after a restart). */
  get ready(): Promise<WorkerStatus> {
    const connection = this.connection;
    return connection.ready.catch((err: unknown) => {
      // lost while starting: follow the restarted worker, if there is one
      if (err instanceof WorkerLost && this.connection !== connection) return this.ready;
      throw err;
    });
  }

  private start(): void {
    let started: ReturnType<typeof startWorker>;
    try {
      started = startWorker();
    } catch (err) {
      // a page policy (CSP, Trusted Types) refused the worker: stand down, never throw from the tag
      const lost = Promise.reject(new WorkerLost((err as Error).message));
      lost.catch(() => undefined);
      this.connection = { remote: null as unknown as Comlink.Remote<SiloWorkerApi>, ready: lost, lost, started: false, lose: () => undefined };
      this.fail((err as Error).message);
      return;
    }
    const { worker } = started;
    let reject: (err: WorkerLost) => void = () => undefined;
    const lost = new Promise<never>((_, r) => (reject = r));
    lost.catch(() => undefined);
    const link = {
      remote: Comlink.wrap<SiloWorkerApi>(worker),
      lost,
      started: false,
      lose: (reason: string) => {
        worker.terminate();
        reject(new WorkerLost(reason));
      },
    };
    const connection: WorkerConnection = { ...link, ready: this.init(link) };
    connection.ready.then(() => (connection.started = true)).catch(() => undefined); // surfaced through status(); an embed must not throw
    connection.ready.finally(started.loaded).catch(() => undefined);
    this.connection = connection;
    worker.addEventListener('error', (e) => {
      e.preventDefault(); // handled here, not an error of the page
      if (this.connection === connection) this.crashed(`worker crashed: ${e.message || 'unknown error'}`);
    });
  }

  /**
   * Everything the worker had acknowledged is in IndexedDB, written in whole transactions,
   * and events not yet handed over wait in the tracker's queue: a fresh worker picks both up.
   */
  private crashed(reason: string): void {
    this.tracker.connect(null);
    if (this.restarts >= MAX_WORKER_RESTARTS) return this.fail(reason);
    this.connection.lose(reason);
    this.restarts++;
    console.warn(`[silo] ${reason}; restarting it`);
    this.start();
  }

  private async init({ remote, lost }: Omit<WorkerConnection, 'ready' | 'started'>): Promise<WorkerStatus> {
    const race = <T>(call: Promise<T>) => Promise.race([call, lost]);
    const catalogUrl = new URL(this.options.catalog, location.href).href;
    try {
      const status = await race(remote.init({
        catalogUrl,
        backends: this.options.backends,
        trainSteps: this.options.trainSteps,
        dbName: this.options.dbName,
        // null: no aggregator, so the worker makes no federated request at all
        federatedServer: this.federatedServer,
        helperOrigin: this.options.helperOrigin,
        retention: {
          maxEvents: this.options.maxEvents ?? 5000,
          maxAgeMs: (this.options.maxAgeDays ?? 90) * 24 * 3600 * 1000,
        },
      }));
      await race(remote.onUpdate(Comlink.proxy((info: { events: number; trainedOnEvents: number }) => {
        this.dispatchEvent(new CustomEvent('update', { detail: info }));
      })));
      this.tracker.connect((events, rejections) => race(remote.record(events, rejections)));
      return status;
    } catch (err) {
      if (!(err instanceof WorkerLost)) this.fail((err as Error).message);
      throw err;
    }
  }

  /**
   * Runs a worker call on the current worker once its init is done. If that worker is lost
   * under the call, the call is retried once on the restarted worker; once Silo has given up,
   * calls with a fallback return it and the others reject with the reason.
   */
  private async call<T>(work: (remote: Comlink.Remote<SiloWorkerApi>) => Promise<T>, fallback?: { value: T }): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.failure) throw new WorkerLost(this.failure);
        const connection = this.connection;
        await connection.ready;
        await this.tracker.flush();
        return await Promise.race([work(connection.remote), connection.lost]);
      } catch (err) {
        const lost = err instanceof WorkerLost || this.failure !== null;
        if (!lost) throw err;
        if (this.failure) {
          if (fallback) return fallback.value;
          throw new Error(`personalisation unavailable: ${this.failure}`);
        }
        if (attempt >= 1) throw err;
      }
    }
  }

  /** Stands down: the worker stops, and every call still waiting on it settles. */
  private fail(reason: string): void {
    if (this.failure) return;
    this.failure = reason;
    console.warn(`[silo] personalisation unavailable: ${reason}`);
    this.tracker.connect(null); // keep queueing in memory (bounded), store nothing half-way
    this.connection.lose(reason);
    this.dispatchEvent(new CustomEvent('error', { detail: { reason } }));
  }

  /** gtag-style: track('view_item', { items: [...] }). Returns at once; never throws. */
  track(name: string, params?: Record<string, unknown>, source: EventSource = 'track'): TrackResult {
    return this.tracker.track(name, params, source);
  }

  /** Whether this page has recorded an event of this name (from any source). */
  trackedOnThisPage(name: string): boolean {
    return this.tracker.seen.has(name);
  }

  /** Items for this shopper, each with a score and a short reason. [] while unavailable. */
  async recommend(request: Partial<RecommendRequest> = {}): Promise<Recommendation[]> {
    return this.call((remote) => remote.recommend({ k: request.k ?? 8, exclude: request.exclude, context: request.context }), { value: [] });
  }

  /**
   * The storefront's own list (search results, a category page) in this shopper's order, on
   * the device. Items need an item_id; the same objects come back, reordered. Throws on bad
   * input; returns the list unchanged while personalisation is unavailable.
   */
  async rerank<T extends { item_id: string }>(items: readonly T[], options: RerankOptions = {}): Promise<T[]> {
    if (!Array.isArray(items)) throw new TypeError('rerank(items): items must be an array');
    if (items.length > RERANK_MAX_ITEMS) throw new RangeError(`rerank(items): at most ${RERANK_MAX_ITEMS} items, got ${items.length}`);
    items.forEach((item, i) => {
      if (typeof item !== 'object' || item === null || typeof item.item_id !== 'string' || !item.item_id) {
        throw new TypeError(`rerank(items): items[${i}] needs a non-empty string item_id`);
      }
    });
    const w = options.weights;
    if (w && ![w.model, w.affinity, w.shop].every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) {
      throw new TypeError('rerank: weights.model, weights.affinity and weights.shop must be numbers ≥ 0');
    }
    // never waits for a worker that is still starting (a fresh page's first second): until it
    // runs there is nothing to personalise with, so the shop's own order comes back at once
    if (this.failure || items.length < 2 || !this.connection.started) return [...items];
    // only the fields the ranking reads cross to the worker; the page keeps its own objects
    const request: RerankRequest = {
      items: items.map((it) => {
        const { item_id, item_brand, item_category, item_category2, item_category3, item_category4, item_category5, price, in_stock } = it as Record<string, unknown> & { item_id: string };
        return { item_id, item_brand, item_category, item_category2, item_category3, item_category4, item_category5, price, in_stock } as RerankRequest['items'][number];
      }),
      context: options.context,
      weights: options.weights,
      demoteOutOfStock: options.demoteOutOfStock,
    };
    const { order } = await this.call((remote) => remote.rerank(request), { value: { order: items.map((_, i) => i) } as Awaited<ReturnType<SiloWorkerApi['rerank']>> });
    return order.map((i) => items[i]);
  }

  async profile(): ReturnType<SiloWorkerApi['profile']> {
    return this.call((remote) => remote.profile());
  }

  /** The worker's status, the tracker's counts, and `aggregator`: the federated server in use, or null. */
  async status(): Promise<SiloStatus> {
    const base = { accepted: this.tracker.accepted, pending: this.tracker.pending, recording: this.tracker.recording, failure: this.failure, aggregator: this.federatedServer };
    if (this.failure) {
      return { backend: null, skipped: [], events: 0, rejected: this.tracker.rejected, catalogSize: 0, modelParameters: 0, trainedOnEvents: 0, lastTrainMs: null, lastLoss: null, lastError: null, paused: false, federated: { participate: false }, ...base, notRecording: this.notRecording(false) };
    }
    const status = await this.call((remote) => remote.status(), { value: null });
    return status ? { ...status, ...base, notRecording: this.notRecording(status.paused) } : this.status();
  }

  /** All local data as JSON. */
  async export(): ReturnType<SiloWorkerApi['exportAll']> {
    return this.call((remote) => remote.exportAll());
  }

  /** Forgets everything on this device: events, counters and the personal model. */
  async erase(): Promise<void> {
    this.tracker.discard();
    await this.call((remote) => remote.erase());
    this.dispatchEvent(new CustomEvent('update', { detail: { events: 0, trainedOnEvents: 0 } }));
  }

  /**
   * Records the shopper's choice. Withdrawing consent stops recording and erases what was
   * recorded: a shopper who says no expects Silo to forget, not just to stop.
   */
  async consent(granted: boolean): Promise<void> {
    try {
      localStorage.setItem(CONSENT_KEY, granted ? 'granted' : 'denied');
    } catch {
      // storage blocked: the choice holds for this page only
    }
    this.tracker.recording = granted;
    if (!granted) await this.erase();
  }

  /** Resolves once the model has learned from everything tracked so far (tests, benchmarks). */
  async settled(): Promise<void> {
    await this.call((remote) => remote.settled(), { value: undefined });
  }

  /** The aggregator's base URL, or null when none is configured (data-federated unset or "off"). */
  get federatedServer(): string | null {
    const server = this.options.federatedServer;
    return server ? new URL(server, location.href).href.replace(/\/$/, '') : null;
  }

  /** Whether this device may take part in federated rounds (off by default). */
  async federated(options: { participate: boolean }): Promise<void> {
    if (options.participate && !this.federatedServer) {
      throw new Error('no federated aggregator is configured (set data-federated on the script tag)');
    }
    await this.call((remote) => remote.federated(options));
  }

  async pause(paused: boolean): Promise<void> {
    this.tracker.recording = !paused && this.mayRecord();
    await this.call((remote) => remote.pause(paused));
  }
}
