// The shopper's event log in the worker: what was recorded (over the IndexedDB store), the
// count of events the page rejected, and the cleaned item sequence the model learns from.
import type { SiloEvent } from '../src/events.ts';
import type { RejectionReport } from '../src/tracker.ts';
import type { ItemTable } from '../models/features.ts';
import { cleanEvents } from './profile/clean.ts';
import { INTEREST_EVENTS, historyFromEvents, type HistoryEntry } from './recommender.ts';
import { type EventStore, storageFault } from './store.ts';
import type { StorageState } from './api-types.ts';

/** The stored count of rejected events, with the ids of the reports last added to it. */
interface RejectionLedger {
  total: number;
  reports: string[];
}
/** more than a page can have sent but not yet seen acknowledged when its worker crashes */
const REJECTION_REPORTS_KEPT = 64;

export interface RecordResult {
  stored: number;
  /** the learnable item sequence changed: the model has something new to learn */
  historyChanged: boolean;
}

export class EventLog {
  events: SiloEvent[] = [];
  /** the item sequence the model learns from: duplicates, bursts and bad timestamps removed */
  history: HistoryEntry[] = [];
  rejected = 0;
  /** ids of the rejection reports counted last (a bounded window: a resent report is a recent one) */
  private rejectionReports: string[] = [];
  /** events in the store (events in memory can include some the retention policy dropped) */
  private storedCount = 0;
  /** bumped by clear(): a write in flight across an erase must not refill the memory */
  private generation = 0;

  constructor(
    private readonly store: EventStore,
    private readonly table: ItemTable,
  ) {}

  async load(): Promise<void> {
    this.events = await this.store.all();
    this.storedCount = this.events.length;
    const rejections = await this.store.getMeta<number | RejectionLedger>('rejected');
    // a number before reports had ids (IndexedDB v2)
    this.rejected = typeof rejections === 'number' ? rejections : (rejections?.total ?? 0);
    this.rejectionReports = typeof rejections === 'object' ? rejections.reports : [];
    this.history = this.learnableHistory();
  }

  /** the last write's outcome: a full quota or a closed database degrades recording, not the rest */
  storage: StorageState = { state: 'ok', unsaved: 0, message: null };

  /**
   * Counts fresh rejection reports, then stores the events (one transaction; ones already
   * stored are skipped). A write the device refuses (quota, database closed for another tab's
   * upgrade) throws after noting why in `storage`: the page keeps the batch and sends it again.
   */
  async record(events: SiloEvent[], rejections: RejectionReport[], paused: boolean): Promise<RecordResult> {
    try {
      const result = await this.write(events, rejections, paused);
      this.storage = { state: 'ok', unsaved: 0, message: null };
      return result;
    } catch (err) {
      const fault = storageFault(err);
      if (fault) this.storage = { state: fault, unsaved: events.length, message: (err as Error).message || String(err) };
      throw err;
    }
  }

  private async write(events: SiloEvent[], rejections: RejectionReport[], paused: boolean): Promise<RecordResult> {
    const generation = this.generation;
    const fresh = rejections.filter((r) => !this.rejectionReports.includes(r.id));
    if (fresh.length > 0) {
      this.rejected += fresh.reduce((sum, r) => sum + r.count, 0);
      this.rejectionReports = this.rejectionReports.concat(fresh.map((r) => r.id)).slice(-REJECTION_REPORTS_KEPT);
      await this.store.setMeta('rejected', { total: this.rejected, reports: this.rejectionReports } satisfies RejectionLedger);
    }
    if (paused || events.length === 0) return { stored: 0, historyChanged: false };
    const { stored, pruned } = await this.store.append(events);
    if (generation !== this.generation) return { stored: 0, historyChanged: false }; // erased meanwhile
    this.events.push(...stored);
    this.storedCount += stored.length - pruned;
    // events the retention policy dropped stay in memory until they are half of it: re-reading
    // the store on every batch at the cap would make writes quadratic
    if (this.events.length > 2 * this.storedCount) {
      this.events = await this.store.all();
      this.storedCount = this.events.length;
    }
    // impressions and searches do not change the item sequence: nothing new to learn, and
    // re-cleaning the whole history for them would make bulk writes quadratic
    if (!stored.some((e) => INTEREST_EVENTS.has(e.name))) return { stored: stored.length, historyChanged: false };
    const before = this.history.length;
    this.history = this.learnableHistory();
    return { stored: stored.length, historyChanged: this.history.length !== before };
  }

  /** Forgets what is held in memory (the caller clears the store). */
  clear(): void {
    this.generation++;
    this.events = [];
    this.storedCount = 0;
    this.history = [];
    this.rejected = 0;
    this.rejectionReports = [];
  }

  private learnableHistory(): HistoryEntry[] {
    return historyFromEvents(cleanEvents(this.events, Date.now()).kept, this.table);
  }
}
