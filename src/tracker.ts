// Recording on the main thread: validate (microseconds), queue, and hand batches to the
// worker off the hot path. `track` never throws and never waits.
import { EVENT_NAMES, type EventSource, type SiloEvent, type TrackResult, validateEvent } from './events.ts';

/**
 * Events rejected on this page since the last report, under an id of their own: a report that
 * reaches a worker twice (resent after a worker crash) is counted once, like an event's eventId.
 */
export interface RejectionReport {
  id: string;
  count: number;
}

export type EventSink = (events: SiloEvent[], rejections: RejectionReport[]) => Promise<unknown>;

export interface TrackerOptions {
  /** called for every rejected event, after the console warning */
  onError?: (reason: string, event: { name: unknown; params: unknown }) => void;
  /** milliseconds to gather events before a batch goes to the worker */
  flushDelayMs?: number;
  /** events kept in memory while the worker is unavailable; the oldest go first */
  maxQueued?: number;
}

/** A random token per page: with a counter it gives each event its eventId. */
function pageToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class Tracker {
  private queue: SiloEvent[] = [];
  private readonly token = pageToken();
  private sequence = 0;
  private rejectedSinceFlush = 0;
  private reportSequence = 0;
  /** reports sent but not acknowledged: resent, with the same ids, until a worker takes them */
  private unsentReports: RejectionReport[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sink: EventSink | null = null;
  recording = true;
  /** names of the events accepted on this page (the JSON-LD capture looks for a view_item) */
  readonly seen = new Set<string>();
  accepted = 0;
  rejected = 0;

  constructor(private readonly options: TrackerOptions = {}) {}

  /** Where batches go; events tracked before the worker is ready wait in the queue. */
  connect(sink: EventSink | null): void {
    this.sink = sink;
    if (sink && this.queue.length) this.schedule(0);
  }

  track(name: unknown, params?: unknown, source: EventSource = 'track'): TrackResult {
    if (!this.recording) return { ok: false, reason: 'recording is off (no consent, Global Privacy Control, or paused)' };
    const result = validateEvent(name, params, Date.now(), source);
    if (!result.ok) {
      this.rejected++;
      this.rejectedSinceFlush++;
      console.warn(`[silo] event rejected: ${result.reason}`);
      try {
        this.options.onError?.(result.reason, { name, params });
      } catch {
        // a throwing error callback must not break the storefront's own code path
      }
      this.schedule();
      return { ok: false, reason: result.reason };
    }
    this.accepted++;
    this.seen.add(result.event.name);
    this.queue.push({ ...result.event, eventId: `${this.token}-${++this.sequence}` });
    const max = this.options.maxQueued ?? 1000;
    if (this.queue.length > max) this.queue.splice(0, this.queue.length - max);
    this.schedule();
    return { ok: true };
  }

  private schedule(delay = this.options.flushDelayMs ?? 200): void {
    if (this.timer !== null || !this.sink) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delay);
  }

  /** Sends what is queued now; on failure the batch goes back to the front of the queue. */
  async flush(): Promise<void> {
    if (!this.sink || (this.queue.length === 0 && this.rejectedSinceFlush === 0 && this.unsentReports.length === 0)) return;
    const batch = this.queue;
    if (this.rejectedSinceFlush > 0) this.unsentReports.push({ id: `${this.token}-r${++this.reportSequence}`, count: this.rejectedSinceFlush });
    const reports = this.unsentReports;
    this.queue = [];
    this.rejectedSinceFlush = 0;
    this.unsentReports = [];
    try {
      await this.sink(batch, reports);
    } catch {
      this.queue = batch.concat(this.queue);
      this.unsentReports = reports.concat(this.unsentReports);
    }
  }

  /** Drops what has not been stored yet (consent withdrawn, erase). */
  discard(): void {
    this.queue = [];
    this.rejectedSinceFlush = 0;
    this.unsentReports = [];
  }

  get pending(): number {
    return this.queue.length;
  }
}

type DataLayerEntry = unknown;

/**
 * Picks up GA4 ecommerce pushes from the page's own `window.dataLayer`, both the ones made
 * before Silo loaded and every later push, without changing what the page's tags see.
 * Understands `{event, ecommerce: {...}}` objects and gtag's `('event', name, params)` calls.
 */
export function listenToDataLayer(target: { dataLayer?: DataLayerEntry[] }, track: Tracker['track']): void {
  const layer = (target.dataLayer ??= []);
  const handle = (entry: DataLayerEntry) => {
    const args = entry as ArrayLike<unknown> & Record<string, unknown>;
    if (entry && typeof entry === 'object' && 'length' in args && args[0] === 'event' && typeof args[1] === 'string') {
      if (isEcommerceName(args[1])) track(args[1], args[2], 'dataLayer');
      return;
    }
    // GTM's own entries ({event: 'gtm.js'}, page_view...) are not ours to judge
    if (entry && typeof entry === 'object' && typeof args.event === 'string' && isEcommerceName(args.event)) {
      track(args.event, args.ecommerce, 'dataLayer');
    }
  };
  for (const entry of layer) handle(entry);
  const originalPush = layer.push;
  layer.push = function (this: DataLayerEntry[], ...entries: DataLayerEntry[]) {
    const result = originalPush.apply(this, entries);
    for (const entry of entries) handle(entry);
    return result;
  };
}

function isEcommerceName(name: string): boolean {
  return (EVENT_NAMES as readonly string[]).includes(name);
}
