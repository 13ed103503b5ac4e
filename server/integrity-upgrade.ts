// Data directories of the embedded store's earlier layouts, rewritten in the checksummed one
// on start, keeping every issued token and accepted upload:
// - legacy: state at the top level of state.json, tokens inside it, log records
//   [u16 token length][token][u32 length][summary]
// - unsealed: state.json {state, nextRoundId, round} without a checksum, log records
//   [u8 type][u8 token length][u32 length][token][payload] without checksums, no manifest
// Their files carry no checksums, so the manifest records them as found. Crash-safe: the new
// log is written beside the old one, the sealed state.json is the commit point, and then the
// new log replaces the old (finishUpgrade, also at the next start if a crash came between).
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRecord, SUMMARY_ACCEPTED, TOKEN_ISSUED } from './integrity-log.ts';
import { logPath, modelPath, optimizerPath, popularityPath, type StateFile, versionsIn, writeFileDurably } from './integrity-files.ts';
import { describeBlob, StoreIntegrityError, type Manifest } from './integrity.ts';
import type { GlobalState, OpenRound } from './store.ts';

export interface LegacyState {
  modelVersion: number;
  nextRoundId: number;
  round: (OpenRound & { tokens: Record<string, boolean> }) | null;
  strategy: unknown;
  accountant: unknown;
  history: GlobalState['history'];
}

export type UnsealedState = Omit<StateFile, 'files'>;

const UPGRADED = '.upgraded';

/** puts the round log an upgrade wrote in place, once the sealed state naming it is durable */
export function finishUpgrade(dir: string, file: StateFile): void {
  const path = file.round && join(dir, logPath(file.round.id));
  if (path && existsSync(path + UPGRADED)) renameSync(path + UPGRADED, path);
}

/** the manifest of the blobs present that the state names */
function manifestOf(dir: string, state: GlobalState): Manifest {
  const files: Manifest = {};
  const add = (path: string) => {
    if (existsSync(join(dir, path))) files[path] = describeBlob(readFileSync(join(dir, path)));
  };
  for (const v of versionsIn(dir, 'models', 'v', '.f32')) if (v <= state.modelVersion) add(modelPath(v));
  for (const v of versionsIn(dir, 'popularity', 'p', '.f32')) if (v <= (state.popularity?.version ?? 0)) add(popularityPath(v));
  add(optimizerPath(state.modelVersion));
  return files;
}

/** the unsealed layout's round log records, up to an incomplete last one; an unknown type is damage */
function unsealedRecords(path: string, bytes: Buffer): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let off = 0;
  while (off + 6 <= bytes.length) {
    const type = bytes.readUInt8(off);
    const tl = bytes.readUInt8(off + 1);
    const pl = bytes.readUInt32LE(off + 2);
    const end = off + 6 + tl + pl;
    if (type !== TOKEN_ISSUED && type !== SUMMARY_ACCEPTED) {
      throw new StoreIntegrityError(`${path}: damaged record at byte offset ${off} (unknown record type ${type}) in a log written before checksums; the records after it cannot be read safely. Restore the data directory from a backup, or move the log aside to start the round over without its uploads.`);
    }
    if (end > bytes.length) break; // torn, never acknowledged
    chunks.push(...encodeRecord(type, bytes.toString('utf8', off + 6, off + 6 + tl), type === SUMMARY_ACCEPTED ? bytes.subarray(off + 6 + tl, end) : null));
    off = end;
  }
  return chunks;
}

export function upgradeUnsealed(dir: string, old: UnsealedState): StateFile {
  if (old.round) {
    const path = join(dir, logPath(old.round.id));
    writeFileDurably(path + UPGRADED, Buffer.concat(existsSync(path) ? unsealedRecords(path, readFileSync(path)) : []));
  }
  return { ...old, files: manifestOf(dir, old.state) };
}

export function upgradeLegacy(dir: string, old: LegacyState): StateFile {
  const { round } = old;
  const state: GlobalState = { modelVersion: old.modelVersion, strategy: old.strategy, accountant: old.accountant, history: old.history };
  if (round) {
    const path = join(dir, logPath(round.id));
    const chunks: Uint8Array[] = [];
    for (const token of Object.keys(round.tokens)) chunks.push(...encodeRecord(TOKEN_ISSUED, token, null));
    if (existsSync(path)) {
      const bytes = readFileSync(path);
      let off = 0;
      while (off + 2 <= bytes.length) {
        const tl = bytes.readUInt16LE(off);
        if (off + 2 + tl + 4 > bytes.length) break;
        const token = bytes.toString('utf8', off + 2, off + 2 + tl);
        const sl = bytes.readUInt32LE(off + 2 + tl);
        const start = off + 6 + tl;
        if (start + sl > bytes.length) break; // torn, never acknowledged
        chunks.push(...encodeRecord(SUMMARY_ACCEPTED, token, bytes.subarray(start, start + sl)));
        off = start + sl;
      }
    }
    writeFileDurably(path + UPGRADED, Buffer.concat(chunks));
  }
  return {
    state,
    nextRoundId: old.nextRoundId,
    round: round && { id: round.id, modelVersion: round.modelVersion, task: round.task, settings: round.settings, normBound: round.normBound },
    files: manifestOf(dir, state),
  };
}
