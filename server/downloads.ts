// Immutable model versions and popularity releases with their SHA-256, for downloads. A
// file whose bytes no longer match the hash recorded when it was written is not served
// (500, logged): the client would verify a freshly computed hash and accept garbage. The
// last few verified versions are kept in memory.
import { createHash } from 'node:crypto';
import { HttpError } from './http/respond.ts';
import type { GlobalState } from './store.ts';

export type Download = { bytes: Uint8Array; sha256: string };

export function sha256Hex(bytes: Uint8Array | Float32Array): string {
  return createHash('sha256').update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).digest('hex');
}

/** `hashes` with one more recorded hash (older states start recording from here). */
export function withHash(hashes: GlobalState['hashes'], kind: 'models' | 'popularity', version: number, sha256: string): NonNullable<GlobalState['hashes']> {
  const h = hashes ?? { models: {}, popularity: {} };
  return { ...h, [kind]: { ...h[kind], [version]: sha256 } };
}

export function versionCache(what: string, read: (version: number) => Promise<Uint8Array | null>, recorded: (version: number) => Promise<string | undefined>, keep = 3): (version: number) => Promise<Download | null> {
  const cache = new Map<number, Download>();
  return async (version) => {
    let m = cache.get(version);
    if (!m) {
      const bytes = await read(version);
      if (!bytes) return null;
      m = { bytes, sha256: sha256Hex(bytes) };
      const expected = await recorded(version);
      if (expected !== undefined && expected !== m.sha256) {
        console.error(`aggregator: stored ${what} ${version} does not match the SHA-256 recorded when it was written; not served`);
        throw new HttpError(500, `stored ${what} ${version} is corrupt; not served`);
      }
      if (cache.size >= keep) cache.delete(cache.keys().next().value!);
      cache.set(version, m);
    }
    return m;
  };
}
