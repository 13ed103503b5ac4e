/** Loads the VDAF draft's conformance vectors (shared/ beside the repository) for the tests. */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const VECTOR_DIR = fileURLToPath(new URL('../../../shared/private-aggregation/vdaf-test-vectors/', import.meta.url));

export function vectorFiles(): string[] {
  return readdirSync(VECTOR_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
}

export function loadVector<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(VECTOR_DIR + name, 'utf8')) as T;
}

export function hex(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new Error('odd hex length');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
