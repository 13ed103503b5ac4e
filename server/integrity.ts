// Integrity checks shared by both stores: checksums that locate damage (file or key, byte
// offset), a checksummed envelope for the state, and the privacy ledger checked against the
// model history it accounts for. A store that finds damage refuses to start (StoreIntegrityError)
// instead of dropping what it cannot read: the ε ledger must never be lost quietly.
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { GlobalState } from './store.ts';

/** Damage or an inconsistency found in a store; the message names the file (or key) and where. */
export class StoreIntegrityError extends Error {
  override readonly name = 'StoreIntegrityError';
}

/** One CRC-32 per chunk, so a mismatch names the bytes it is in. */
export const CHUNK_BYTES = 65_536;

/** What the state records of an immutable blob (model, popularity release, optimiser state). */
export interface BlobEntry {
  bytes: number;
  /** CRC-32 of each CHUNK_BYTES chunk */
  crc: number[];
}

/** stored blob name (models/v3.f32, model:3) → its entry */
export type Manifest = Record<string, BlobEntry>;

export function describeBlob(data: Uint8Array): BlobEntry {
  const crc: number[] = [];
  for (let at = 0; at < data.length || at === 0; at += CHUNK_BYTES) crc.push(crc32(data.subarray(at, at + CHUNK_BYTES)));
  return { bytes: data.length, crc };
}

/** null if `data` is what `entry` describes, else where it differs */
export function blobDamage(data: Uint8Array, entry: BlobEntry): string | null {
  if (data.length !== entry.bytes) return `${data.length} bytes, the state records ${entry.bytes} (damage at offset ${Math.min(data.length, entry.bytes)})`;
  for (let i = 0; i < entry.crc.length; i++) {
    const at = i * CHUNK_BYTES;
    if (crc32(data.subarray(at, at + CHUNK_BYTES)) !== entry.crc[i]) return `checksum mismatch at offset ${at}–${Math.min(data.length, at + CHUNK_BYTES) - 1}`;
  }
  return null;
}

export function verifyBlob(name: string, data: Uint8Array, entry: BlobEntry): void {
  const damage = blobDamage(data, entry);
  if (damage) throw new StoreIntegrityError(`${name}: ${damage}`);
}

// The state is JSON, sealed as {"format":2,"sha256":"<hex of the data text>","data":<data>}:
// still readable JSON for an operator, and any changed byte of the data shows.
const SEAL_HEAD = '{"format":2,"sha256":"';
const SEAL_MID = '","data":';
const SEAL_DATA_AT = SEAL_HEAD.length + 64 + SEAL_MID.length;

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function sealJson(value: unknown): string {
  const data = JSON.stringify(value);
  return SEAL_HEAD + sha256Hex(data) + SEAL_MID + data + '}';
}

/** true if `text` is (or was meant to be) a sealed state, false for an earlier unsealed layout */
export function isSealed(text: string): boolean {
  return text.startsWith('{"format"') || text.includes('"sha256"');
}

/** The sealed value; throws naming `name` and the damaged bytes when the seal does not match. */
export function openSealedJson(name: string, text: string): unknown {
  const digest = text.slice(SEAL_HEAD.length, SEAL_HEAD.length + 64);
  if (!text.startsWith(SEAL_HEAD) || text.slice(SEAL_HEAD.length + 64, SEAL_DATA_AT) !== SEAL_MID || !/^[0-9a-f]{64}$/.test(digest) || !text.endsWith('}')) {
    let at = 0;
    const expected = SEAL_HEAD + digest + SEAL_MID;
    while (at < expected.length && text[at] === expected[at]) at++;
    throw new StoreIntegrityError(`${name}: not a sealed state (damage at offset ${at < expected.length ? at : text.length - 1})`);
  }
  const data = text.slice(SEAL_DATA_AT, -1);
  if (sha256Hex(data) !== digest) throw new StoreIntegrityError(`${name}: SHA-256 mismatch over its data (offset ${SEAL_DATA_AT}–${text.length - 2}): a byte of the state changed after it was written`);
  return JSON.parse(data);
}

const isModelRound = (r: GlobalState['history'][number]) => (r.kind ?? 'model') === 'model';

/**
 * The privacy ledger and the model history must agree: every DP release is in the history
 * and in the accountant, one model round per model version, one popularity round per release.
 * Returns what disagrees (empty: consistent).
 */
export function ledgerProblems(state: GlobalState): string[] {
  const problems: string[] = [];
  const history = Array.isArray(state.history) ? state.history : null;
  if (!history) return ['the state has no round history'];
  if (!(Number.isSafeInteger(state.modelVersion) && state.modelVersion >= 1)) problems.push(`model version ${state.modelVersion} is not a version`);
  const modelRounds = history.filter(isModelRound);
  if (modelRounds.length !== state.modelVersion - 1) problems.push(`the history has ${modelRounds.length} model rounds for model version ${state.modelVersion} (expected ${state.modelVersion - 1})`);
  const lastModel = modelRounds[modelRounds.length - 1];
  if (lastModel && lastModel.newModelVersion !== state.modelVersion) problems.push(`the last model round made version ${lastModel.newModelVersion}, the state says ${state.modelVersion}`);
  const released = history.filter((r) => r.epsilonThisRound !== null).length;
  const steps = (state.accountant as { steps?: unknown } | null)?.steps;
  if (typeof steps === 'number' && steps !== released) problems.push(`the privacy accountant holds ${steps} DP releases, the history ${released}`);
  const ledgerRounds = (state.ledger ?? []).reduce((n, r) => n + r.count, 0);
  if (ledgerRounds > released) problems.push(`the PLD ledger holds ${ledgerRounds} DP releases, the history ${released}`);
  const popularityRounds = history.length - modelRounds.length;
  if (popularityRounds !== (state.popularity?.version ?? 0)) problems.push(`the history has ${popularityRounds} popularity releases, the state says ${state.popularity?.version ?? 0}`);
  return problems;
}
