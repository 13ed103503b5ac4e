// The embedded store's round log, written twice: rounds/r<N>.log and rounds/r<N>.mirror.log
// get the same bytes at the same offsets. Appends are group-committed: the records of every
// upload that arrives while one write + fdatasync runs go out together in the next, to both
// copies at once, and each upload is acknowledged only after BOTH copies' fdatasync returned.
// So every acknowledged record is durable twice; a record only one copy holds was never
// acknowledged (a crash between the two writes) and is a torn tail.
// Reading back (start, repair, the close's sum) takes each record from whichever copy holds
// it intact: one damaged byte in one copy loses nothing. Only a record damaged in both copies
// is lost; the start then refuses, naming both files and offsets.
import { open, type FileHandle } from 'node:fs/promises';
import { recordAt, resync, type LogRecord } from '../integrity-log.ts';

/** Two append-only files with group commit: concurrent appends share one write + fdatasync per copy. */
export class MirroredLog {
  private queue: { chunks: Uint8Array[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  /** bytes known to be durable in both copies */
  size: number;
  /** records appended and group commits made: batching shows as syncs < records */
  records = 0;
  syncs = 0;

  private constructor(private readonly fhs: FileHandle[], size: number) {
    this.size = size;
  }

  /** `paths`: the copies (one path: an unmirrored log, for comparison only) */
  static async open(paths: string[], size: number): Promise<MirroredLog> {
    const fhs: FileHandle[] = [];
    for (const p of paths) fhs.push(await open(p, 'a'));
    return new MirroredLog(fhs, size);
  }

  append(chunks: Uint8Array[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ chunks, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async writeCopy(fh: FileHandle, chunks: Uint8Array[], total: number): Promise<void> {
    const { bytesWritten } = await fh.writev(chunks);
    if (bytesWritten !== total) throw new Error(`short write to the round log (${bytesWritten} of ${total} bytes)`);
    await fh.datasync();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length) {
      const batch = this.queue.splice(0);
      const chunks = batch.flatMap((b) => b.chunks);
      const total = chunks.reduce((n, c) => n + c.length, 0);
      // both copies written and synced in parallel; the batch is answered only when both are durable
      const results = await Promise.allSettled(this.fhs.map((fh) => this.writeCopy(fh, chunks, total)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!failed) {
        this.syncs++;
        this.records += batch.length;
        this.size += total;
        for (const b of batch) b.resolve();
        continue;
      }
      // drop a torn tail so later records stay aligned in both copies; none of this batch was acknowledged
      await Promise.allSettled(this.fhs.map((fh) => fh.truncate(this.size)));
      for (const b of batch) b.reject(failed.reason);
    }
    this.flushing = false;
  }

  async close(): Promise<void> {
    while (this.flushing || this.queue.length) await new Promise((r) => setTimeout(r, 1));
    await Promise.all(this.fhs.map((fh) => fh.close()));
  }
}

/** A record damaged in one copy and taken from the other. */
export interface RestoredRecord {
  /** which copy was damaged (0: the log, 1: the mirror) */
  copy: 0 | 1;
  offset: number;
  reason: string;
}

/** A record damaged in both copies: lost. */
export interface LostRecord {
  offset: number;
  /** where the next record intact in either copy starts (or the longer copy ends) */
  end: number;
  reasons: [string, string];
}

export interface MergedLog {
  /** every record intact in either copy, in order, as one log (what both copies should hold) */
  bytes: Buffer;
  records: LogRecord[];
  restored: RestoredRecord[];
  /** strict: at most one, the first; salvage: every one */
  lost: LostRecord[];
  /** where the copies' torn tail starts (a record no copy holds whole, or only one copy holds: never acknowledged) */
  tornAt: number | null;
}

type At = ReturnType<typeof recordAt>;
const reasonOf = (at: At) => (at.kind === 'damaged' ? at.reason : 'cut short');

/**
 * Merges the two copies of a round log record by record (`mirror` null: a log written
 * before mirrors, read alone). 'strict' stops at the first record damaged in both copies;
 * 'salvage' (repair) skips to the next record intact in either copy.
 */
export function mergeCopies(log: Buffer, mirror: Buffer | null, mode: 'strict' | 'salvage'): MergedLog {
  const merged: MergedLog = { bytes: Buffer.alloc(0), records: [], restored: [], lost: [], tornAt: null };
  const parts: Buffer[] = [];
  let outAt = 0;
  let off = 0;
  const size = Math.max(log.length, mirror?.length ?? 0);
  while (off < size) {
    const a = recordAt(log, off);
    const b: At = mirror ? recordAt(mirror, off) : { kind: 'torn' };
    const take = a.kind === 'record' ? { at: a, from: log } : b.kind === 'record' ? { at: b, from: mirror! } : null;
    if (take) {
      const r = take.at.record;
      if (a.kind !== 'record') merged.restored.push({ copy: 0, offset: off, reason: reasonOf(a) });
      else if (mirror && b.kind !== 'record' && off < mirror.length) merged.restored.push({ copy: 1, offset: off, reason: reasonOf(b) });
      parts.push(take.from.subarray(r.offset, r.end));
      const shift = outAt - r.offset;
      merged.records.push({ ...r, offset: r.offset + shift, payloadStart: r.payloadStart + shift, end: r.end + shift });
      outAt += r.end - r.offset;
      off = r.end;
      continue;
    }
    // intact in neither: a torn tail if either copy ends within it (that write never completed in both: never acknowledged)
    if (a.kind === 'torn' || (mirror !== null && b.kind === 'torn')) {
      merged.tornAt = outAt;
      break;
    }
    const end = Math.min(resync(log, off + 1), mirror ? resync(mirror, off + 1) : Infinity);
    merged.lost.push({ offset: off, end, reasons: [reasonOf(a), mirror ? reasonOf(b) : 'no mirror copy'] });
    if (mode === 'strict') break;
    off = end;
  }
  merged.bytes = Buffer.concat(parts);
  return merged;
}
