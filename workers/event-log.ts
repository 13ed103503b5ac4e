// The shopper's event log in the worker: what was recorded (over the IndexedDB store), the
// count of events the page rejected, and the cleaned item sequence the model learns from.
import type { SiloEvent } from '../src/events.ts';
import type { RejectionReport } from '../src/tracker.ts';
import type { ItemTable } from '../models/features.ts';
import { cleanEvents } from './profile/clean.ts';
import { INTEREST_EVENTS, historyFromEvents, type HistoryEntry } from './recommender.ts';
import type { EventStore } from './store.ts';

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
  /** bumped by clear(): a write in flight across an erase must not refill the memory */
  private generation = 0;

  constructor(
    private readonly store: EventStore,
    private readonly table: ItemTable,
  ) {}

  async load(): Promise<void> {
    this.events = await this.store.all();
    const rejections = await this.store.getMeta<number | RejectionLedger>('rejected');
    // a number before reports had ids (IndexedDB v2)
    this.rejected = typeof rejections === 'number' ? rejections : (rejections?.total ?? 0);
    this.rejectionReports = typeof rejections === 'object' ? rejections.reports : [];
    this.history = this.learnableHistory();
  }

  /** Counts fresh rejection reports, then stores the events (one transaction; ones already stored are skipped). */
  async record(events: SiloEvent[], rejections: RejectionReport[], paused: boolean): Promise<RecordResult> {
    const generation = this.generation;
    const fresh = rejections.filter((r) => !this.rejectionReports.includes(r.id));
    if (fresh.length > 0) {
      this.rejected += fresh.reduce((sum, r) => sum + r.count, 0);
      this.rejectionReports = this.rejectionReports.concat(fresh.map((r) => r.id)).slice(-REJECTION_REPORTS_KEPT);
      await this.store.setMeta('rejected', { total: this.rejected, reports: this.rejectionReports } satisfies RejectionLedger);
    }
    if (paused || events.length === 0) return { stored: 0, historyChanged: false };
    const stored = await this.store.append(events);
    if (generation !== this.generation) return { stored: 0, historyChanged: false }; // erased meanwhile
    this.events.push(...stored);
    if (this.events.length > 2 * (await this.store.count())) this.events = await this.store.all();
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
    this.history = [];
    this.rejected = 0;
    this.rejectionReports = [];
  }

  private learnableHistory(): HistoryEntry[] {
    return historyFromEvents(cleanEvents(this.events, Date.now()).kept, this.table);
  }
}
