// The public API a storefront uses, on `window.silo` and as an ESM import. It is a thin
// main-thread shell: validation and queueing here, everything else in the worker.
import * as Comlink from 'comlink';
import type { EventSource, TrackResult } from './events.ts';
import { Tracker, listenToDataLayer } from './tracker.ts';
import type { BackendName } from '../workers/backend.ts';
import type { Recommendation, RecommendRequest, RerankRequest, SiloWorkerApi, WorkerStatus } from '../workers/profile.worker.ts';

export type { Recommendation, RecommendRequest, WorkerStatus, TrackResult };

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
}

const CONSENT_KEY = 'silo.consent';

function readConsent(): 'granted' | 'denied' | null {
  try {
    const v = localStorage.getItem(CONSENT_KEY);
    return v === 'granted' || v === 'denied' ? v : null;
  } catch {
    return null; // storage blocked: behave as if nothing was decided
  }
}

export class Silo extends EventTarget {
  readonly ready: Promise<WorkerStatus>;
  private readonly tracker: Tracker;
  private worker: Worker | null = null;
  private remote: Comlink.Remote<SiloWorkerApi> | null = null;
  private failure: string | null = null;

  constructor(readonly options: SiloOptions) {
    super();
    this.tracker = new Tracker({ onError: options.onError });
    this.tracker.recording = this.mayRecord();
    if (options.dataLayer !== false && typeof window !== 'undefined') {
      listenToDataLayer(window as { dataLayer?: unknown[] }, (n, p, s) => this.tracker.track(n, p, s));
    }
    this.ready = this.start();
    this.ready.catch(() => undefined); // surfaced through status(); an embed must not throw
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
    const gpc = typeof navigator !== 'undefined' && (navigator as { globalPrivacyControl?: boolean }).globalPrivacyControl === true;
    if (gpc) return false;
    return this.options.consent !== 'required';
  }

  private async start(): Promise<WorkerStatus> {
    const worker = new Worker(new URL('../workers/profile.worker.ts', import.meta.url), { type: 'module', name: 'silo' });
    this.worker = worker;
    worker.addEventListener('error', (e) => this.fail(`worker crashed: ${e.message || 'unknown error'}`));
    const remote = Comlink.wrap<SiloWorkerApi>(worker);
    this.remote = remote;
    const catalogUrl = new URL(this.options.catalog, location.href).href;
    try {
      const status = await remote.init({
        catalogUrl,
        backends: this.options.backends,
        trainSteps: this.options.trainSteps,
        dbName: this.options.dbName,
        retention: {
          maxEvents: this.options.maxEvents ?? 5000,
          maxAgeMs: (this.options.maxAgeDays ?? 90) * 24 * 3600 * 1000,
        },
      });
      await remote.onUpdate(Comlink.proxy((info: { events: number; trainedOnEvents: number }) => {
        this.dispatchEvent(new CustomEvent('update', { detail: info }));
      }));
      this.tracker.connect((events, rejected) => remote.record(events, rejected));
      return status;
    } catch (err) {
      this.fail((err as Error).message);
      throw err;
    }
  }

  private fail(reason: string): void {
    if (this.failure) return;
    this.failure = reason;
    console.warn(`[silo] personalisation unavailable: ${reason}`);
    this.tracker.connect(null); // keep queueing in memory (bounded), store nothing half-way
    this.worker?.terminate();
    this.dispatchEvent(new CustomEvent('error', { detail: { reason } }));
  }

  /** gtag-style: track('view_item', { items: [...] }). Returns at once; never throws. */
  track(name: string, params?: Record<string, unknown>, source: EventSource = 'track'): TrackResult {
    return this.tracker.track(name, params, source);
  }

  /** Items for this shopper, each with a score and a short reason. [] while unavailable. */
  async recommend(request: Partial<RecommendRequest> = {}): Promise<Recommendation[]> {
    if (this.failure) return [];
    await this.ready;
    await this.tracker.flush();
    return this.remote!.recommend({ k: request.k ?? 8, exclude: request.exclude, context: request.context });
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
    if (this.failure || items.length < 2) return [...items];
    await this.ready;
    await this.tracker.flush();
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
    const { order } = await this.remote!.rerank(request);
    return order.map((i) => items[i]);
  }

  async profile(): ReturnType<SiloWorkerApi['profile']> {
    await this.ready;
    await this.tracker.flush();
    return this.remote!.profile();
  }

  async status(): Promise<WorkerStatus & { accepted: number; pending: number; recording: boolean; failure: string | null }> {
    const base = { accepted: this.tracker.accepted, pending: this.tracker.pending, recording: this.tracker.recording, failure: this.failure };
    if (this.failure) {
      return { backend: null, skipped: [], events: 0, rejected: this.tracker.rejected, catalogSize: 0, modelParameters: 0, trainedOnEvents: 0, lastTrainMs: null, lastLoss: null, lastError: null, paused: false, federated: { participate: false }, ...base };
    }
    await this.ready;
    return { ...(await this.remote!.status()), ...base };
  }

  /** All local data as JSON. */
  async export(): ReturnType<SiloWorkerApi['exportAll']> {
    await this.ready;
    await this.tracker.flush();
    return this.remote!.exportAll();
  }

  /** Forgets everything on this device: events, counters and the personal model. */
  async erase(): Promise<void> {
    this.tracker.discard();
    await this.ready;
    await this.remote!.erase();
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
    await this.ready;
    await this.tracker.flush();
    await this.remote!.settled();
  }

  /** Whether this device may take part in federated rounds (off by default). */
  async federated(options: { participate: boolean }): Promise<void> {
    await this.ready;
    await this.remote!.federated(options);
  }

  async pause(paused: boolean): Promise<void> {
    this.tracker.recording = !paused && this.mayRecord();
    await this.ready;
    await this.remote!.pause(paused);
  }
}
