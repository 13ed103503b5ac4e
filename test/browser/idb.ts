// Reads the worker's IndexedDB from the page (same origin), for tests that check what Silo
// stored. Binary values (model weights, summaries) come back as their size and first word.
import type { Page } from 'playwright-core';

export interface BinaryInfo {
  byteLength: number;
  /** first 4 bytes as a little-endian u32 (a format's magic number) */
  firstWord: number | null;
}

export interface StoreQuery {
  db: string;
  store: string;
  keys: boolean;
}

/**
 * Runs in the page (passed to a driver's evaluate, so it must close over nothing): every row
 * of one object store, or its keys, with binary values reduced to BinaryInfo. Shared by the
 * Chromium (playwright) and Firefox (puppeteer) tests.
 */
export function readStoreInPage({ db, store, keys }: StoreQuery): Promise<unknown[]> {
  return new Promise<unknown[]>((resolve, reject) => {
    const plain = (v: unknown): unknown => {
      if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
        const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        return { byteLength: bytes.byteLength, firstWord: bytes.byteLength >= 4 ? new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) : null };
      }
      if (Array.isArray(v)) return v.map(plain);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
      return v;
    };
    const open = indexedDB.open(db);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const objectStore = open.result.transaction(store).objectStore(store);
      const req = keys ? objectStore.getAllKeys() : objectStore.getAll();
      req.onsuccess = () => {
        open.result.close();
        resolve(req.result.map(plain));
      };
      req.onerror = () => reject(req.error);
    };
  });
}

/** Every row of one object store, or its keys with `keys: true`. */
export async function storeRows<T = Record<string, unknown>>(page: Page, db: string, store: string, options: { keys?: boolean } = {}): Promise<T[]> {
  return (await page.evaluate(readStoreInPage, { db, store, keys: options.keys ?? false })) as T[];
}
