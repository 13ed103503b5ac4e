// Everything Silo keeps on the device lives in one IndexedDB database, owned by the worker.
// The schema is versioned; `upgrade` runs each migration from the stored version up.
import { type DBSchema, type IDBPDatabase, type IDBPTransaction, deleteDB, openDB } from 'idb';
import type { SiloEvent } from '../src/events.ts';

export const DB_NAME = 'silo';
export const DB_VERSION = 3;

export interface StoredEvent extends SiloEvent {
  id?: number;
}

/** The shopper's personal model, written in one transaction so a closed tab never leaves half of it. */
export interface StoredModel {
  key: 'personal';
  /** JSON manifest: config, names, shapes */
  manifest: string;
  weights: ArrayBuffer;
  /** hex SHA-256 of weights, checked on load */
  sha256: string;
  savedAt: number;
  trainedOnEvents: number;
}

/** An encoded update summary (federated/summary.ts) not yet acknowledged by the aggregator. */
export interface PendingSummary {
  round: string;
  /** the one-time upload token check-in gave for that round */
  token: string;
  /** the round's upload deadline (ms since epoch): unsent after it, the summary is deleted */
  deadline: number;
  bytes: ArrayBuffer;
}

interface SiloDB extends DBSchema {
  // v3: the eventId index, so a batch delivered twice is stored once
  events: { key: number; value: StoredEvent; indexes: { ts: number; eventId: string } };
  meta: { key: string; value: unknown };
  models: { key: string; value: StoredModel };
  // v2: federated update summaries waiting for the server to acknowledge them
  summaries: { key: number; value: PendingSummary };
}

export type SiloDatabase = IDBPDatabase<SiloDB>;

let closedForUpgrade = false;

export interface RetentionPolicy {
  maxEvents: number;
  maxAgeMs: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { maxEvents: 5000, maxAgeMs: 90 * 24 * 3600 * 1000 };

/** How long an upgrade waits for another tab to close an older version before init gives up. */
export const BLOCKED_TIMEOUT_MS = 5000;

/**
 * Opens (and migrates) the database. An upgrade another tab blocks (it holds an older version
 * open) fails after `blockedTimeoutMs` with an error that says so; the stored data is untouched.
 * This connection closes itself when a newer version in another tab needs to upgrade.
 */
export function openStore(name = DB_NAME, blockedTimeoutMs = BLOCKED_TIMEOUT_MS): Promise<SiloDatabase> {
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let gaveUp = false;
    const opening = openDB<SiloDB>(name, DB_VERSION, {
      upgrade(db, oldVersion, _newVersion, transaction) {
        // migrations in order: a v0 database gets every one, a v1 database only the later ones
        if (oldVersion < 1) {
          const events = db.createObjectStore('events', { keyPath: 'id', autoIncrement: true });
          events.createIndex('ts', 'ts');
          db.createObjectStore('meta');
          db.createObjectStore('models', { keyPath: 'key' });
        }
        if (oldVersion < 2) db.createObjectStore('summaries', { autoIncrement: true });
        // events stored before v3 have no eventId; an index skips them
        if (oldVersion < 3) transaction.objectStore('events').createIndex('eventId', 'eventId', { unique: true });
      },
      blocked(currentVersion) {
        timer ??= setTimeout(() => {
          gaveUp = true;
          reject(new Error(`IndexedDB upgrade blocked: another tab holds the version-${currentVersion} database open (close the other tabs of this shop and reload); nothing stored was changed`));
        }, blockedTimeoutMs);
      },
      blocking(_currentVersion, _blockedVersion, event) {
        // a newer Silo in another tab needs to upgrade: let it (writes here then fail as 'blocked')
        closedForUpgrade = true;
        (event.target as IDBDatabase).close();
      },
    });
    opening.then(
      (db) => {
        clearTimeout(timer);
        if (gaveUp) db.close();
        else resolve(db);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Whether this worker's connection was closed for another tab's upgrade. */
export function isClosedForUpgrade(): boolean {
  return closedForUpgrade;
}

export class EventStore {
  constructor(
    readonly db: SiloDatabase,
    private retention: RetentionPolicy = DEFAULT_RETENTION,
  ) {}

  setRetention(retention: RetentionPolicy): void {
    this.retention = retention;
  }

  /**
   * Appends a batch, skipping events whose eventId is already stored (a batch sent again
   * after a worker crash), and drops what the retention policy no longer allows, all in one
   * transaction. Returns the events it stored and how many old ones it dropped.
   */
  async append(events: readonly SiloEvent[], now = Date.now()): Promise<{ stored: SiloEvent[]; pruned: number }> {
    const tx = this.db.transaction('events', 'readwrite');
    const byEventId = tx.store.index('eventId');
    // every lookup is issued at once: one wait for the batch, not one per event
    const held = await Promise.all(events.map((e) => (e.eventId === undefined ? undefined : byEventId.getKey(e.eventId))));
    const seen = new Set<string>();
    const stored: SiloEvent[] = [];
    events.forEach((e, i) => {
      if (e.eventId !== undefined && (held[i] !== undefined || seen.has(e.eventId))) return;
      if (e.eventId !== undefined) seen.add(e.eventId);
      // a failed add (quota) fails the whole transaction: tx.done reports it, once
      tx.store.add({ ...e }).catch(() => undefined);
      stored.push(e);
    });
    const pruned = await this.pruneIn(tx, now);
    await tx.done;
    return { stored, pruned };
  }

  async prune(now = Date.now()): Promise<number> {
    const tx = this.db.transaction('events', 'readwrite');
    const removed = await this.pruneIn(tx, now);
    await tx.done;
    return removed;
  }

  private async pruneIn(tx: IDBPTransaction<SiloDB, ['events'], 'readwrite'>, now: number): Promise<number> {
    let removed = 0;
    // too old: walk the ts index from the oldest
    let cursor = await tx.store.index('ts').openCursor(IDBKeyRange.upperBound(now - this.retention.maxAgeMs, true));
    while (cursor) {
      await cursor.delete();
      removed++;
      cursor = await cursor.continue();
    }
    // too many: drop the oldest by insertion order
    let excess = (await tx.store.count()) - this.retention.maxEvents;
    let byId = excess > 0 ? await tx.store.openCursor() : null;
    while (byId && excess > 0) {
      await byId.delete();
      removed++;
      excess--;
      byId = await byId.continue();
    }
    return removed;
  }

  all(): Promise<StoredEvent[]> {
    return this.db.getAll('events');
  }

  count(): Promise<number> {
    return this.db.count('events');
  }

  async getMeta<T>(key: string): Promise<T | undefined> {
    return (await this.db.get('meta', key)) as T | undefined;
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    await this.db.put('meta', value, key);
  }

  async saveModel(model: StoredModel): Promise<void> {
    await this.db.put('models', model);
  }

  loadModel(): Promise<StoredModel | undefined> {
    return this.db.get('models', 'personal');
  }

  async addSummary(summary: PendingSummary): Promise<number> {
    return this.db.add('summaries', summary);
  }

  async pendingSummaries(): Promise<{ id: number; value: PendingSummary }[]> {
    const tx = this.db.transaction('summaries');
    const [keys, values] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll(), tx.done]);
    return keys.map((id, i) => ({ id, value: values[i] }));
  }

  async deleteSummary(id: number): Promise<void> {
    await this.db.delete('summaries', id);
  }

  async clearSummaries(): Promise<void> {
    await this.db.clear('summaries');
  }

  /** Every store emptied in one transaction: events, meta, model and pending summaries. */
  async clearAll(): Promise<void> {
    const tx = this.db.transaction(['events', 'meta', 'models', 'summaries'], 'readwrite');
    await Promise.all([
      tx.objectStore('events').clear(),
      tx.objectStore('meta').clear(),
      tx.objectStore('models').clear(),
      tx.objectStore('summaries').clear(),
      tx.done,
    ]);
  }
}

/**
 * 'quota' when a write failed because the origin's storage is full, 'blocked' when the
 * database was closed for another tab's schema upgrade; null for any other error.
 */
export function storageFault(err: unknown): 'quota' | 'blocked' | null {
  const name = (err as { name?: string } | null)?.name;
  if (name === 'QuotaExceededError') return 'quota';
  if (name === 'InvalidStateError' && closedForUpgrade) return 'blocked';
  return null;
}

export async function destroyStore(db: SiloDatabase, name = DB_NAME): Promise<void> {
  db.close();
  await deleteDB(name);
}
