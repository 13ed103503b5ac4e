// Immutable model versions and popularity releases with their SHA-256, for downloads: the
// last few read are kept in memory.
import { createHash } from 'node:crypto';

export type Download = { bytes: Uint8Array; sha256: string };

export function versionCache(read: (version: number) => Promise<Uint8Array | null>, keep = 3): (version: number) => Promise<Download | null> {
  const cache = new Map<number, Download>();
  return async (version) => {
    let m = cache.get(version);
    if (!m) {
      const bytes = await read(version);
      if (!bytes) return null;
      m = { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
      if (cache.size >= keep) cache.delete(cache.keys().next().value!);
      cache.set(version, m);
    }
    return m;
  };
}
