// Embedded store: one server process, state in memory, persisted to a directory so a
// restarted server loses no accepted update.
//   state.json             model version, strategy state, privacy ledger, history, the open
//                          round, and the size and chunk checksums of every blob it names;
//                          sealed with a SHA-256 of its data; replaced atomically (write +
//                          fsync + rename); the commit point of a round close
//   models/v<N>.f32        every model version, raw little-endian float32, wire order
//   popularity/p<N>.f32    every popularity release (noised counts per bucket), float32
//   optimizer/v<N>.bin     server-optimiser state that produced model v<N> (momentum, Adam moments)
//   rounds/r<N>.log        the open round's issued tokens and accepted summaries, and
//   rounds/r<N>.mirror.log the same bytes again (store/mirror-log.ts). Appends are group-
//                          committed: the records of all uploads that arrive while one write +
//                          fdatasync per copy runs go out in the next, and each upload is
//                          acknowledged only once its batch is on disk in both copies. Every
//                          record carries checksums (integrity-log.ts). Replayed (tokens,
//                          count) on restart, each record from a copy that holds it intact;
//                          summed when the round closes.
// At start the store checks state.json against itself and the files (integrity-files.ts) and
// refuses to start on any damage, naming the file and offset, except a round-log record damaged
// in one copy only: that is restored from the other (store/recover-log.ts). server/repair.ts
// drops what is damaged, explicitly. A directory without state.json is initialised only when it is empty.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeRecord, recordAt, RECORD_HEADER, SUMMARY_ACCEPTED, TOKEN_ISSUED } from './integrity-log.ts';
import { checkDataDir, dataFiles, logPath, mirrorLogPath, modelPath, noStateRefusal, optimizerPath, popularityPath, refusal, STATE_FILE, type StateFile, writeFileDurably } from './integrity-files.ts';
import { finishUpgrade, upgradeLegacy, upgradeUnsealed, type LegacyState, type UnsealedState } from './integrity-upgrade.ts';
import { describeBlob, isSealed, openSealedJson, sealJson, StoreIntegrityError, verifyBlob } from './integrity.ts';
import type { AcceptResult, AggregatorStore, GlobalState, OpenRound } from './store.ts';
import { MirroredLog } from './store/mirror-log.ts';
import { recoverLog } from './store/recover-log.ts';

export class FileStore implements AggregatorStore {
  readonly exclusive = true;
  readonly kind = 'file';
  private file: StateFile | null = null;
  private closing = false;
  private closer = false;
  /** token → 0 issued, 1 upload being written, 2 used */
  private tokens = new Map<string, 0 | 1 | 2>();
  private accepted = 0;
  private log: MirroredLog | null = null;
  private inflight = new Set<Promise<unknown>>();
  private opening: Promise<OpenRound> | null = null;

  /** `mirror` false: the round log is written once (for measuring what the mirror costs; loses the single-corruption guarantee) */
  constructor(readonly dir: string, private readonly options: { mirror?: boolean } = {}) {
    for (const sub of ['models', 'popularity', 'optimizer', 'rounds']) mkdirSync(join(dir, sub), { recursive: true });
  }

  private statePath(): string {
    return join(this.dir, STATE_FILE);
  }
  private logPath(roundId: number): string {
    return join(this.dir, logPath(roundId));
  }
  /** the round log's copies: the log and its mirror */
  private logPaths(roundId: number): string[] {
    const paths = [this.logPath(roundId)];
    if (this.options.mirror !== false) paths.push(join(this.dir, mirrorLogPath(roundId)));
    return paths;
  }
  private persist(): void {
    writeFileDurably(this.statePath(), sealJson(this.file));
  }

  /**
   * Starts fresh only in an empty directory. Otherwise loads state.json and checks it against
   * the files and itself (refusing to start on any damage or disagreement) and replays the
   * open round's log.
   */
  async init(state: GlobalState, weights: Float32Array): Promise<GlobalState> {
    if (!existsSync(this.statePath())) {
      const present = dataFiles(this.dir);
      if (present.length) throw new StoreIntegrityError(noStateRefusal(this.dir, present));
      this.file = { state, nextRoundId: 1, round: null, files: {} };
      this.writeModel(state.modelVersion, weights);
      this.persist();
      return this.file.state;
    }
    this.file = this.load(readFileSync(this.statePath(), 'utf8'));
    finishUpgrade(this.dir, this.file);
    const problems = checkDataDir(this.dir, this.file);
    if (problems.length) throw new StoreIntegrityError(refusal(this.dir, problems));
    if (this.file.round) await this.replay(this.file.round.id);
    return this.file.state;
  }

  /** state.json's data; a directory of an earlier layout is rewritten in this one first */
  private load(text: string): StateFile {
    if (isSealed(text)) return openSealedJson(this.statePath(), text) as StateFile;
    const parsed = JSON.parse(text) as UnsealedState | LegacyState;
    const file = 'state' in parsed ? upgradeUnsealed(this.dir, parsed) : upgradeLegacy(this.dir, parsed);
    this.file = file;
    this.persist();
    return file;
  }

  /**
   * Rebuilds the open round's tokens and count from its log, each record from whichever copy
   * holds it intact (store/recover-log.ts); a record damaged in both copies stops the start.
   */
  private async replay(roundId: number): Promise<void> {
    const paths = this.logPaths(roundId);
    const { records, size } = recoverLog(this.dir, paths);
    for (const r of records) {
      if (r.type === TOKEN_ISSUED) this.tokens.set(r.token, 0);
      else {
        this.tokens.set(r.token, 2);
        this.accepted++;
      }
    }
    this.log = await MirroredLog.open(paths, size);
  }

  async readPopularity(version: number): Promise<Uint8Array | null> {
    return this.readBlob(popularityPath(version), version);
  }

  async writePopularity(version: number, counts: Float32Array): Promise<void> {
    writeFileDurably(join(this.dir, popularityPath(version)), new Uint8Array(counts.buffer, counts.byteOffset, counts.byteLength));
  }

  /** a blob the state names, checked against its checksums (null: the state names none such) */
  private async readBlob(path: string, version: number): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(version) || version < 1) return null;
    const entry = this.state.files[path];
    if (!entry) return null; // unknown, or written by a close that has not committed
    const bytes = new Uint8Array(await readFile(join(this.dir, path)));
    verifyBlob(join(this.dir, path), bytes, entry);
    return bytes;
  }

  private writeBlob(path: string, bytes: Uint8Array): void {
    writeFileDurably(join(this.dir, path), bytes);
    this.state.files[path] = describeBlob(bytes);
  }

  private writeModel(version: number, weights: Float32Array): void {
    this.writeBlob(modelPath(version), new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  }

  private get state(): StateFile {
    if (!this.file) throw new Error('FileStore used before init()');
    return this.file;
  }

  async readState(): Promise<GlobalState> {
    return structuredClone(this.state.state);
  }

  async readModel(version: number): Promise<Uint8Array | null> {
    return this.readBlob(modelPath(version), version);
  }

  async readOptimizer(): Promise<Uint8Array | null> {
    return this.readBlob(optimizerPath(this.state.state.modelVersion), this.state.state.modelVersion);
  }

  /** the model versions the state names */
  modelVersions(): number[] {
    return Object.keys(this.state.files)
      .map((f) => /^models\/v(\d+)\.f32$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  async roundById(id: number): Promise<OpenRound | null> {
    const r = this.state.round;
    return r?.id === id ? r : null;
  }

  async currentRound(): Promise<{ round: OpenRound; closing: boolean } | null> {
    const r = this.state.round;
    return r ? { round: r, closing: this.closing } : null;
  }

  async openRound(make: (id: number) => OpenRound): Promise<OpenRound | null> {
    const s = this.state;
    if (s.round) return this.closing ? null : s.round;
    // concurrent check-ins while none is open all get the one round the first of them opens
    this.opening ??= (async () => {
      const round = make(s.nextRoundId);
      const paths = this.logPaths(round.id);
      for (const p of paths) rmSync(p, { force: true });
      this.log = await MirroredLog.open(paths, 0);
      // the new files' directory entries durable before any record in them is acknowledged
      const d = openSync(join(this.dir, 'rounds'), 'r');
      try {
        fsyncSync(d);
      } finally {
        closeSync(d);
      }
      this.tokens.clear();
      this.accepted = 0;
      s.round = round;
      s.nextRoundId = round.id + 1;
      this.persist();
      return round;
    })().finally(() => (this.opening = null));
    return this.opening;
  }

  private isOpen(roundId: number): boolean {
    return !!this.file?.round && this.file.round.id === roundId && !this.closing;
  }

  async issueToken(roundId: number, token: string, max: number): Promise<number> {
    if (!this.isOpen(roundId) || this.tokens.size >= max) return 0;
    this.tokens.set(token, 0);
    const write = this.log!.append(encodeRecord(TOKEN_ISSUED, token, null));
    try {
      await this.track(write);
    } catch (e) {
      this.tokens.delete(token);
      throw e;
    }
    return this.tokens.size;
  }

  /** the open round log's group-commit counters (records written, fdatasync calls) */
  logStats(): { records: number; syncs: number } {
    return { records: this.log?.records ?? 0, syncs: this.log?.syncs ?? 0 };
  }

  async counts(roundId: number): Promise<{ selected: number; accepted: number }> {
    return this.state.round?.id === roundId ? { selected: this.tokens.size, accepted: this.accepted } : { selected: 0, accepted: 0 };
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  // (`values`: unused; the aggregator keeps this exclusive store's running sum itself)
  async accept(roundId: number, token: string, summary: Uint8Array): Promise<AcceptResult> {
    if (!this.isOpen(roundId)) return { ok: false, reason: 'not-open' };
    const t = this.tokens.get(token);
    if (t === undefined) return { ok: false, reason: 'unknown-token' };
    if (t !== 0) return { ok: false, reason: 'duplicate' };
    this.tokens.set(token, 1); // a concurrent second upload with this token is a duplicate from here on
    try {
      await this.track(this.log!.append(encodeRecord(SUMMARY_ACCEPTED, token, summary)));
    } catch (e) {
      this.tokens.set(token, 0);
      throw e;
    }
    this.tokens.set(token, 2);
    return { ok: true, accepted: ++this.accepted };
  }

  async claimClose(roundId: number): Promise<boolean> {
    if (this.state.round?.id !== roundId || this.closer) return false;
    this.closing = true;
    this.closer = true;
    // uploads already being written finish and count; new ones see a closed round
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
    return true;
  }

  /** the round's accepted summaries, each checked against its record checksum as it is read (from the mirror where the log's copy is damaged) */
  async *summaries(roundId: number): AsyncIterable<Uint8Array> {
    if (this.state.round?.id !== roundId || !this.log) return;
    const end = this.log.size;
    const paths = this.logPaths(roundId);
    const fhs = await Promise.all(paths.map((p) => open(p, 'r')));
    try {
      const head = Buffer.alloc(RECORD_HEADER);
      let off = 0;
      while (off < end) {
        let found: { bytes: Buffer; start: number; length: number } | null = null;
        const damage: string[] = [];
        for (const [i, fh] of fhs.entries()) {
          await fh.read(head, 0, RECORD_HEADER, off);
          const length = RECORD_HEADER + head.readUInt8(1) + head.readUInt32LE(2) + 4;
          const bytes = Buffer.allocUnsafe(Math.max(RECORD_HEADER, Math.min(length, end - off)));
          await fh.read(bytes, 0, bytes.length, off);
          const at = recordAt(bytes, 0);
          if (at.kind === 'record') {
            found = { bytes, start: at.record.payloadStart, length: at.record.type === SUMMARY_ACCEPTED ? at.record.payloadLength : -1 };
            off += at.record.end;
            break;
          }
          damage.push(`${paths[i]}: ${at.kind === 'torn' ? 'truncated' : at.reason} at byte offset ${off}`);
        }
        if (!found) throw new StoreIntegrityError(damage.join('; '));
        if (found.length >= 0) yield found.bytes.subarray(found.start, found.start + found.length);
      }
    } finally {
      await Promise.all(fhs.map((fh) => fh.close()));
    }
  }

  async commitClose(roundId: number, next: GlobalState, model: Float32Array | null, optimizer: Uint8Array | null): Promise<void> {
    const s = this.state;
    if (s.round?.id !== roundId || !this.closer) throw new Error(`round ${roundId} is not being closed by this store`);
    if (model) {
      this.writeModel(next.modelVersion, model);
      if (optimizer) this.writeBlob(optimizerPath(next.modelVersion), optimizer);
    }
    // the release the closer wrote becomes part of the state (and is served) from here on
    const release = next.popularity?.version ? popularityPath(next.popularity.version) : null;
    if (release && !s.files[release]) s.files[release] = describeBlob(readFileSync(join(this.dir, release)));
    for (const path of Object.keys(s.files)) if (path.startsWith('optimizer/') && path !== optimizerPath(next.modelVersion)) delete s.files[path];
    s.state = next;
    s.round = null;
    this.persist(); // the commit point: a crash before this reopens the round with all its uploads
    await this.log?.close();
    this.log = null;
    // freeing a big log's pages is kernel work: off the event loop (a leftover is never read again)
    for (const p of this.logPaths(roundId)) void rm(p, { force: true }).catch(() => {});
    // only the current version's optimiser state is ever read
    for (const f of readdirSync(join(this.dir, 'optimizer'))) if (f !== `v${next.modelVersion}.bin`) rmSync(join(this.dir, 'optimizer', f), { force: true });
    this.tokens.clear();
    this.accepted = 0;
    this.closing = false;
    this.closer = false;
  }

  async abortClose(): Promise<void> {
    this.closer = false;
  }

  async close(): Promise<void> {
    await this.log?.close();
    this.log = null;
  }
}
