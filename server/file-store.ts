// Embedded store: the aggregator's state in process memory, persisted to a directory so a
// restarted server loses no accepted update.
//   state.json            server state (model version, open round, issued tokens, strategy
//                         state, privacy ledger), replaced atomically (write + rename)
//   models/v<N>.f32       every model version, raw little-endian float32, wire order
//   rounds/r<N>.log       the round's accepted summaries, appended and fsync'ed BEFORE the
//                         upload is acknowledged; replayed into the running sum on restart
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class FileStore {
  private logFd: number | null = null;
  private logRound = -1;

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'models'), { recursive: true });
    mkdirSync(join(dir, 'rounds'), { recursive: true });
  }

  readState<T>(): T | null {
    const path = join(this.dir, 'state.json');
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
  }

  writeState(state: unknown): void {
    const path = join(this.dir, 'state.json');
    const tmp = path + '.tmp';
    const fd = openSync(tmp, 'w');
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  }

  writeModel(version: number, weights: Float32Array): void {
    const path = join(this.dir, 'models', `v${version}.f32`);
    const fd = openSync(path + '.tmp', 'w');
    writeSync(fd, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(path + '.tmp', path);
  }

  readModel(version: number): Uint8Array | null {
    const path = join(this.dir, 'models', `v${version}.f32`);
    return existsSync(path) ? new Uint8Array(readFileSync(path)) : null;
  }

  modelVersions(): number[] {
    return readdirSync(join(this.dir, 'models'))
      .map((f) => /^v(\d+)\.f32$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  /** Durably appends one accepted summary: [u16 token length][token][u32 length][summary]. */
  appendSummary(roundId: number, token: string, summary: Uint8Array): void {
    if (this.logRound !== roundId) {
      if (this.logFd !== null) closeSync(this.logFd);
      this.logFd = openSync(join(this.dir, 'rounds', `r${roundId}.log`), 'a');
      this.logRound = roundId;
    }
    const tokenBytes = new TextEncoder().encode(token);
    const record = new Uint8Array(2 + tokenBytes.length + 4 + summary.length);
    const view = new DataView(record.buffer);
    view.setUint16(0, tokenBytes.length, true);
    record.set(tokenBytes, 2);
    view.setUint32(2 + tokenBytes.length, summary.length, true);
    record.set(summary, 6 + tokenBytes.length);
    writeSync(this.logFd!, record);
    fsyncSync(this.logFd!);
  }

  /** The round's accepted summaries, in order. A torn last record (crash mid-write, never acknowledged) is skipped. */
  *readSummaries(roundId: number): Generator<{ token: string; summary: Uint8Array }> {
    const path = join(this.dir, 'rounds', `r${roundId}.log`);
    if (!existsSync(path)) return;
    const bytes = new Uint8Array(readFileSync(path));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let off = 0;
    while (off + 2 <= bytes.length) {
      const tl = view.getUint16(off, true);
      if (off + 2 + tl + 4 > bytes.length) return;
      const token = new TextDecoder().decode(bytes.subarray(off + 2, off + 2 + tl));
      const sl = view.getUint32(off + 2 + tl, true);
      const start = off + 6 + tl;
      if (start + sl > bytes.length) return;
      yield { token, summary: bytes.subarray(start, start + sl) };
      off = start + sl;
    }
  }

  close(): void {
    if (this.logFd !== null) closeSync(this.logFd);
    this.logFd = null;
    this.logRound = -1;
  }
}
