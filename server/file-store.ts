// Embedded store: one server process, state in memory, persisted to a directory so a
// restarted server loses no accepted update.
//   state.json             model version, strategy state, privacy ledger, history, the open
//                          round; replaced atomically (write + fsync + rename); the commit
//                          point of a round close
//   models/v<N>.f32        every model version, raw little-endian float32, wire order
//   popularity/p<N>.f32    every popularity release (noised counts per bucket), float32
//   optimizer/v<N>.bin     server-optimiser state that produced model v<N> (momentum, Adam moments)
//   rounds/r<N>.log        the open round's issued tokens and accepted summaries. Appends are
//                          group-committed: the records of all uploads that arrive while one
//                          write + fdatasync runs go out in the next single write + fdatasync,
//                          and each upload is acknowledged only once its batch is on disk.
//                          Replayed (tokens, count) on restart; summed when the round closes.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { AcceptResult, AggregatorStore, GlobalState, OpenRound } from './store.ts';

const TOKEN_ISSUED = 1;
const SUMMARY_ACCEPTED = 2;
/** record: [u8 type][u8 token length][u32 payload length][token][payload] */
const RECORD_HEADER = 6;

interface LegacyState {
  modelVersion: number;
  nextRoundId: number;
  round: (OpenRound & { tokens: Record<string, boolean> }) | null;
  strategy: unknown;
  accountant: unknown;
  history: GlobalState['history'];
}

interface StateFile {
  state: GlobalState;
  nextRoundId: number;
  round: OpenRound | null;
}

function writeFileDurably(path: string, data: Uint8Array | string): void {
  const tmp = path + '.tmp';
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function record(type: number, token: string, payload: Uint8Array | null): Uint8Array[] {
  const tokenBytes = Buffer.from(token, 'utf8');
  if (tokenBytes.length > 255) throw new Error('token too long');
  const head = Buffer.allocUnsafe(RECORD_HEADER + tokenBytes.length);
  head.writeUInt8(type, 0);
  head.writeUInt8(tokenBytes.length, 1);
  head.writeUInt32LE(payload ? payload.length : 0, 2);
  tokenBytes.copy(head, RECORD_HEADER);
  return payload ? [head, payload] : [head];
}

/** An append-only file with group commit: concurrent appends share one write + fdatasync. */
class GroupCommitLog {
  private queue: { chunks: Uint8Array[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  /** bytes known to be durable */
  size: number;
  /** records appended and fdatasync calls made: batching shows as syncs < records */
  records = 0;
  syncs = 0;

  private constructor(private readonly fh: FileHandle, size: number) {
    this.size = size;
  }

  static async open(path: string, size: number): Promise<GroupCommitLog> {
    return new GroupCommitLog(await open(path, 'a'), size);
  }

  append(chunks: Uint8Array[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ chunks, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length) {
      const batch = this.queue.splice(0);
      const chunks = batch.flatMap((b) => b.chunks);
      const total = chunks.reduce((n, c) => n + c.length, 0);
      try {
        const { bytesWritten } = await this.fh.writev(chunks);
        if (bytesWritten !== total) throw new Error(`short write to the round log (${bytesWritten} of ${total} bytes)`);
        await this.fh.datasync();
        this.syncs++;
        this.records += batch.length;
        this.size += total;
        for (const b of batch) b.resolve();
      } catch (e) {
        // drop a torn tail so later records stay aligned; none of this batch was acknowledged
        await this.fh.truncate(this.size).catch(() => {});
        for (const b of batch) b.reject(e);
      }
    }
    this.flushing = false;
  }

  async close(): Promise<void> {
    while (this.flushing || this.queue.length) await new Promise((r) => setTimeout(r, 1));
    await this.fh.close();
  }
}

export class FileStore implements AggregatorStore {
  readonly exclusive = true;
  readonly kind = 'file';
  private file: StateFile | null = null;
  private closing = false;
  private closer = false;
  /** token → 0 issued, 1 upload being written, 2 used */
  private tokens = new Map<string, 0 | 1 | 2>();
  private accepted = 0;
  private log: GroupCommitLog | null = null;
  private inflight = new Set<Promise<unknown>>();
  private opening: Promise<OpenRound> | null = null;

  constructor(readonly dir: string) {
    for (const sub of ['models', 'popularity', 'optimizer', 'rounds']) mkdirSync(join(dir, sub), { recursive: true });
  }

  private statePath(): string {
    return join(this.dir, 'state.json');
  }
  private logPath(roundId: number): string {
    return join(this.dir, 'rounds', `r${roundId}.log`);
  }
  private persist(): void {
    writeFileDurably(this.statePath(), JSON.stringify(this.file));
  }

  async init(state: GlobalState, weights: Float32Array): Promise<GlobalState> {
    if (existsSync(this.statePath())) {
      const parsed = JSON.parse(readFileSync(this.statePath(), 'utf8')) as StateFile | LegacyState;
      this.file = 'state' in parsed ? parsed : this.migrate(parsed);
      if (this.file.round) await this.replay(this.file.round.id);
    } else {
      this.writeModel(state.modelVersion, weights);
      this.file = { state, nextRoundId: 1, round: null };
      this.persist();
    }
    return this.file.state;
  }

  /**
   * A data directory written before the store interface (state at the top level, round log
   * records [u16 token length][token][u32 length][summary], issued tokens in state.json):
   * rewritten in the current layout, keeping every accepted upload and issued token.
   */
  private migrate(old: LegacyState): StateFile {
    const { round } = old;
    const file: StateFile = {
      state: { modelVersion: old.modelVersion, strategy: old.strategy, accountant: old.accountant, history: old.history },
      nextRoundId: old.nextRoundId,
      round: round && { id: round.id, modelVersion: round.modelVersion, task: round.task, settings: round.settings, normBound: round.normBound },
    };
    if (round) {
      const path = this.logPath(round.id);
      const chunks: Uint8Array[] = [];
      for (const token of Object.keys(round.tokens)) chunks.push(...record(TOKEN_ISSUED, token, null));
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
          chunks.push(...record(SUMMARY_ACCEPTED, token, bytes.subarray(start, start + sl)));
          off = start + sl;
        }
      }
      writeFileDurably(path, Buffer.concat(chunks));
    }
    this.file = file;
    this.persist();
    return file;
  }

  /** Rebuilds the open round's tokens and count from its log; cuts a torn last record (never acknowledged). */
  private async replay(roundId: number): Promise<void> {
    const path = this.logPath(roundId);
    let good = 0;
    if (existsSync(path)) {
      const bytes = readFileSync(path);
      let off = 0;
      while (off + RECORD_HEADER <= bytes.length) {
        const type = bytes.readUInt8(off);
        const tl = bytes.readUInt8(off + 1);
        const pl = bytes.readUInt32LE(off + 2);
        const end = off + RECORD_HEADER + tl + pl;
        if (end > bytes.length || (type !== TOKEN_ISSUED && type !== SUMMARY_ACCEPTED)) break;
        const token = bytes.toString('utf8', off + RECORD_HEADER, off + RECORD_HEADER + tl);
        if (type === TOKEN_ISSUED) this.tokens.set(token, 0);
        else {
          this.tokens.set(token, 2);
          this.accepted++;
        }
        off = end;
      }
      good = off;
      if (good < bytes.length) truncateSync(path, good);
    }
    this.log = await GroupCommitLog.open(path, good);
  }

  async readPopularity(version: number): Promise<Uint8Array | null> {
    return this.readVersioned('popularity', `p${version}.f32`, version);
  }

  async writePopularity(version: number, counts: Float32Array): Promise<void> {
    writeFileDurably(join(this.dir, 'popularity', `p${version}.f32`), new Uint8Array(counts.buffer, counts.byteOffset, counts.byteLength));
  }

  private async readVersioned(folder: string, file: string, version: number): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(version) || version < 1) return null;
    try {
      return new Uint8Array(await readFile(join(this.dir, folder, file)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  private writeModel(version: number, weights: Float32Array): void {
    writeFileDurably(join(this.dir, 'models', `v${version}.f32`), new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  }

  private get state(): StateFile {
    if (!this.file) throw new Error('FileStore used before init()');
    return this.file;
  }

  async readState(): Promise<GlobalState> {
    return structuredClone(this.state.state);
  }

  async readModel(version: number): Promise<Uint8Array | null> {
    return this.readVersioned('models', `v${version}.f32`, version);
  }

  async readOptimizer(): Promise<Uint8Array | null> {
    const path = join(this.dir, 'optimizer', `v${this.state.state.modelVersion}.bin`);
    return existsSync(path) ? new Uint8Array(await readFile(path)) : null;
  }

  modelVersions(): number[] {
    return readdirSync(join(this.dir, 'models'))
      .map((f) => /^v(\d+)\.f32$/.exec(f))
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
      const path = this.logPath(round.id);
      rmSync(path, { force: true });
      this.log = await GroupCommitLog.open(path, 0);
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
    const write = this.log!.append(record(TOKEN_ISSUED, token, null));
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
      await this.track(this.log!.append(record(SUMMARY_ACCEPTED, token, summary)));
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

  async *summaries(roundId: number): AsyncIterable<Uint8Array> {
    if (this.state.round?.id !== roundId || !this.log) return;
    const end = this.log.size;
    const fh = await open(this.logPath(roundId), 'r');
    try {
      const head = Buffer.alloc(RECORD_HEADER);
      let off = 0;
      while (off + RECORD_HEADER <= end) {
        await fh.read(head, 0, RECORD_HEADER, off);
        const type = head.readUInt8(0);
        const tl = head.readUInt8(1);
        const pl = head.readUInt32LE(2);
        if (type === SUMMARY_ACCEPTED) {
          const payload = Buffer.allocUnsafe(pl);
          const { bytesRead } = await fh.read(payload, 0, pl, off + RECORD_HEADER + tl);
          if (bytesRead !== pl) throw new Error(`round log r${roundId} is truncated`);
          yield payload;
        }
        off += RECORD_HEADER + tl + pl;
      }
    } finally {
      await fh.close();
    }
  }

  async commitClose(roundId: number, next: GlobalState, model: Float32Array | null, optimizer: Uint8Array | null): Promise<void> {
    const s = this.state;
    if (s.round?.id !== roundId || !this.closer) throw new Error(`round ${roundId} is not being closed by this store`);
    if (model) {
      this.writeModel(next.modelVersion, model);
      if (optimizer) writeFileDurably(join(this.dir, 'optimizer', `v${next.modelVersion}.bin`), optimizer);
    }
    s.state = next;
    s.round = null;
    this.persist(); // the commit point: a crash before this reopens the round with all its uploads
    await this.log?.close();
    this.log = null;
    // freeing a big log's pages is kernel work: off the event loop (a leftover is never read again)
    void rm(this.logPath(roundId), { force: true }).catch(() => {});
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
