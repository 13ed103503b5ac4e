// The embedded store's start on an open round: both copies of its log are read and merged
// record by record (mirror-log.ts). A record damaged in one copy is restored from the other
// (logged), a torn tail is cut (logged), and a copy that differs from the merged log (or is
// missing: a log written before mirrors) is rewritten durably before the store serves
// anything, so both copies agree again. A record damaged in both copies stops the start.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { writeFileDurably } from '../integrity-files.ts';
import type { LogRecord } from '../integrity-log.ts';
import { StoreIntegrityError } from '../integrity.ts';
import { mergeCopies, type MergedLog } from './mirror-log.ts';

/** Both copies' bytes (null: missing), the log first; the one present stands in for a missing one. */
export function readCopies(paths: string[]): [Buffer, Buffer | null] {
  const copies = paths.map((p) => (existsSync(p) ? readFileSync(p) : null));
  const [log, mirror = null] = copies;
  if (log) return [log, mirror];
  return [mirror ?? Buffer.alloc(0), null];
}

export function lostMessage(dir: string, paths: string[], merged: MergedLog, size: number): string {
  const d = merged.lost[0];
  const where = paths.map((p, i) => `${p}: damaged record at byte offset ${d.offset} (${d.reasons[i] ?? 'missing'})`).join(' and ');
  return (
    `the store in ${dir} refuses to start: ${where} of ${size}; the record is damaged in every copy and may hold an acknowledged upload. ` +
    `Run \`npm run server:repair -- ${dir}\`: it keeps every record intact in either copy, moves the damaged logs aside and reports what it dropped.`
  );
}

/** The merged records and their size; both copies hold exactly them afterwards. */
export function recoverLog(dir: string, paths: string[]): { records: LogRecord[]; size: number } {
  const [log, mirror] = readCopies(paths);
  const merged = mergeCopies(log, paths.length > 1 ? mirror : null, 'strict');
  if (merged.lost.length) throw new StoreIntegrityError(lostMessage(dir, paths, merged, Math.max(log.length, mirror?.length ?? 0)));
  const name = (p: string) => relative(dir, p);
  for (const r of merged.restored) console.warn(`${name(paths[r.copy])}: record at byte offset ${r.offset} ${r.reason === 'cut short' ? 'missing' : `damaged (${r.reason})`}; restored from ${name(paths[1 - r.copy])}`);
  if (merged.tornAt !== null) console.warn(`${name(paths[0])}: cut a torn last record at byte offset ${merged.tornAt} (a write a crash cut short, never acknowledged)`);
  for (const p of paths) {
    const current = existsSync(p) ? readFileSync(p) : null;
    if (current?.equals(merged.bytes)) continue;
    if (!current) console.warn(`${name(p)}: missing; rewritten from the other copy`);
    writeFileDurably(p, merged.bytes);
  }
  return { records: merged.records, size: merged.bytes.length };
}
