// The Redis store's integrity: the `state` key sealed like state.json (with the checksums of
// every model, popularity release and optimiser blob it names), checksummed partial sums and
// summaries, and the start check: the ledger against the model history and the blobs present.
import type { Redis } from 'ioredis';
import { crc32 } from 'node:zlib';
import { blobDamage, describeBlob, isSealed, ledgerProblems, openSealedJson, StoreIntegrityError, type Manifest } from './integrity.ts';
import type { GlobalState } from './store.ts';
import { roundDamage } from './store/redis-copies.ts';

/** what the `state` key holds; `files` null: a state written before checksums */
export interface RedisState {
  state: GlobalState;
  files: Manifest | null;
}

export function parseRedisState(key: string, text: string): RedisState {
  if (!isSealed(text)) return { state: JSON.parse(text) as GlobalState, files: null };
  const sealed = openSealedJson(key, text) as { state: GlobalState; files: Manifest };
  return { state: sealed.state, files: sealed.files };
}

/** a summary kept in a round's list: "SLCK", u32 CRC-32 of the summary, the summary */
const SUMMARY_SEAL = Buffer.from('SLCK');

export function sealSummary(summary: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(8);
  SUMMARY_SEAL.copy(head, 0);
  head.writeUInt32LE(crc32(summary), 4);
  return Buffer.concat([head, summary]);
}

/** the summary of a list entry, checked (an entry written before checksums is passed through) */
export function openSummary(key: string, index: number, entry: Buffer): Buffer {
  if (!entry.subarray(0, 4).equals(SUMMARY_SEAL)) {
    if (entry.subarray(0, 4).toString('latin1') === 'SLFU') return entry;
    throw new StoreIntegrityError(`${key}[${index}]: not a summary (damage at offset 0)`);
  }
  const summary = entry.subarray(8);
  if (crc32(summary) !== entry.readUInt32LE(4)) throw new StoreIntegrityError(`${key}[${index}]: checksum mismatch over bytes 8–${entry.length - 1}`);
  return summary;
}

/**
 * "count within crc check" as stored in round:<id>:partial-counts: `crc` is the sum's CRC-32,
 * `check` the CRC-32 of "count within crc" (crc or check absent: written before them).
 * `intact` false: the text does not match its check, so none of it can be trusted.
 */
export function parsePartialCounts(text: string): { count: number; within: number; crc: number | null; intact: boolean } {
  const fields = text.split(' ');
  const [count, within, crc] = fields.slice(0, 3).map(Number);
  // (fewer fields: written before the checks; then every field must at least be a number)
  const intact = fields.length === 4 ? crc32(fields.slice(0, 3).join(' ')) === Number(fields[3]) : fields.length >= 2 && fields.length <= 3 && fields.every((f) => /^\d+$/.test(f));
  return { count, within, crc: crc === undefined || Number.isNaN(crc) ? null : crc, intact };
}

/** the "within crc check" part the accept script appends to the count */
export function countsSuffix(count: number, within: number, crc: number): string {
  return `${within} ${crc} ${crc32(`${count} ${within} ${crc}`)}`;
}

export function checkPartial(key: string, instance: string, stored: Uint8Array, crc: number | null): void {
  if (crc !== null && crc32(stored) !== crc) throw new StoreIntegrityError(`${key} field ${instance}: checksum mismatch over its ${stored.length} bytes (offset 0–${stored.length - 1}); the round's sum cannot be trusted`);
}

/** keys under `prefix` matching `pattern` (SCAN: Redis keeps serving meanwhile) */
export async function scanKeys(redis: Redis, prefix: string, pattern: string, limit = Infinity): Promise<string[]> {
  const glob = prefix.replace(/[*?[\]\\]/g, '\\$&') + pattern;
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', glob, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0' && found.length < limit);
  return found.sort();
}

/** versions of the keys `<prefix><name>:<v>` */
async function versions(redis: Redis, prefix: string, name: string): Promise<number[]> {
  return (await scanKeys(redis, prefix, `${name}:*`))
    .map((k) => Number(k.slice(prefix.length + name.length + 1)))
    .filter(Number.isSafeInteger)
    .sort((a, b) => a - b);
}

/** the manifest of the blobs present that a state written before checksums names */
export async function manifestOfRedis(redis: Redis, prefix: string, state: GlobalState): Promise<Manifest> {
  const files: Manifest = {};
  const names = [...(await versions(redis, prefix, 'model')).filter((v) => v <= state.modelVersion).map((v) => `model:${v}`), ...(await versions(redis, prefix, 'popularity')).filter((v) => v <= (state.popularity?.version ?? 0)).map((v) => `popularity:${v}`), 'optimizer'];
  for (const name of names) {
    const b = await redis.getBuffer(prefix + name);
    if (b) files[name] = describeBlob(b);
  }
  return files;
}

/** a damaged blob the state names: `name` without the prefix */
export interface BlobProblem {
  name: string;
  message: string;
}

export async function blobProblems(redis: Redis, prefix: string, files: Manifest): Promise<BlobProblem[]> {
  const problems: BlobProblem[] = [];
  for (const [name, entry] of Object.entries(files)) {
    const b = await redis.getBuffer(prefix + name);
    const damage = b ? blobDamage(b, entry) : 'missing (the state records it)';
    if (damage) problems.push({ name, message: `${prefix}${name}: ${damage}` });
  }
  return problems;
}

/** models or releases newer than the state names (a model is written with the state that names it, in one script; a release just before) */
export async function newerThanState(redis: Redis, prefix: string, state: GlobalState): Promise<string[]> {
  const problems: string[] = [];
  const newer = (vs: number[], latest: number, allowed: number, name: string) => {
    const beyond = vs.filter((v) => v > allowed).map((v) => `${prefix}${name}:${v}`);
    if (beyond.length) problems.push(`${beyond.join(', ')} exist but ${prefix}state names ${name} ${latest} as the latest: the state is older than the data; its privacy ledger would not cover them`);
  };
  newer(await versions(redis, prefix, 'model'), state.modelVersion, state.modelVersion, 'model');
  const released = state.popularity?.version ?? 0;
  newer(await versions(redis, prefix, 'popularity'), released, released + 1, 'popularity');
  return problems;
}

/** What disagrees between the state and the keys (empty: the store may start). */
export async function redisProblems(redis: Redis, prefix: string, { state, files }: RedisState & { files: Manifest }): Promise<string[]> {
  const problems = ledgerProblems(state).map((p) => `${prefix}state: ${p}`);
  if (!files[`model:${state.modelVersion}`]) problems.push(`${prefix}model:${state.modelVersion}: the current model is not recorded in the state`);
  problems.push(...(await blobProblems(redis, prefix, files)).map((p) => p.message));
  problems.push(...(await newerThanState(redis, prefix, state)));
  problems.push(...(await roundDamage(redis, prefix)).map((d) => d.message));
  return problems;
}

export function redisRefusal(prefix: string, problems: string[]): string {
  return `the Redis store ${prefix}* refuses to start:\n  ${problems.join('\n  ')}\nStop every instance and run \`npm run server:repair -- REDIS_URL --redis-prefix ${prefix}\` (it moves damaged keys aside and reports what is dropped), or restore the keys named from a backup (an RDB/AOF copy): the store will not start on damaged data or without its privacy ledger.`;
}

export function noStateRedisRefusal(prefix: string, found: string[]): string {
  const shown = found.length > 12 ? [...found.slice(0, 12), '…'] : found;
  return `the Redis store ${prefix}* refuses to start: there is no ${prefix}state (the privacy ledger, ε spent, and the model history), but ${shown.join(', ')} exist. Restore ${prefix}state from a backup; a fresh store starts only on an empty key prefix.`;
}
