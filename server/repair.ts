// Repairs an embedded store's data directory that refuses to start because of damage:
//   npm run server:repair -- [--data] DIR      (or: npx tsx server/repair.ts DIR)
// (a Redis store: npm run server:repair -- redis://host:port [--redis-prefix silo:], with every
// instance stopped; see store/repair-redis.ts)
// Keeps every record of the open round's log intact in either copy (rounds/r<N>.log and its
// mirror) and every intact blob, moves each damaged
// file to DIR/damaged/<time>/ (never deletes), and prints what it dropped (counts, offsets).
// It will not invent what only a backup holds: a damaged or missing state.json (the privacy
// ledger), the current model, or a state older than the models are reported, and nothing changes.
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { TOKEN_ISSUED } from './integrity-log.ts';
import { checkDataDir, DAMAGED_DIR, dataFiles, logPath, mirrorLogPath, noStateRefusal, STATE_FILE, type StateFile, writeFileDurably } from './integrity-files.ts';
import { isSealed, openSealedJson, sealJson } from './integrity.ts';
import { mergeCopies } from './store/mirror-log.ts';
import { readCopies } from './store/recover-log.ts';
import { repairRedis } from './store/repair-redis.ts';

class Repair {
  private readonly aside: string;
  readonly report: string[] = [];

  constructor(private readonly dir: string) {
    this.aside = join(DAMAGED_DIR, new Date().toISOString().replace(/[:.]/g, '-'));
  }

  /** moves `path` (relative) under the damaged folder, keeping its relative path */
  private moveAside(path: string): string {
    const to = join(this.aside, path);
    mkdirSync(dirname(join(this.dir, to)), { recursive: true });
    renameSync(join(this.dir, path), join(this.dir, to));
    return to;
  }

  /** the state, or null (reported) when only a backup can help */
  loadState(): StateFile | null {
    const path = join(this.dir, STATE_FILE);
    if (!existsSync(path)) {
      const present = dataFiles(this.dir);
      this.report.push(present.length ? noStateRefusal(this.dir, present) : `${this.dir} holds no store: nothing to repair (a store starts fresh in an empty directory).`);
      return null;
    }
    const text = readFileSync(path, 'utf8');
    if (!isSealed(text)) {
      this.report.push(`${path} is of an earlier layout without checksums: start the server once, it rewrites the directory with them.`);
      return null;
    }
    try {
      return openSealedJson(path, text) as StateFile;
    } catch (e) {
      this.report.push(`${(e as Error).message}\nstate.json holds the privacy ledger; repair will not rebuild it. Restore it from a backup.`);
      return null;
    }
  }

  /** drops damaged or missing blobs other than the current model; false if only a backup can help */
  repairFiles(file: StateFile): boolean {
    const problems = checkDataDir(this.dir, file);
    const restore = problems.filter((p) => p.fix === 'restore');
    if (restore.length) {
      for (const p of restore) this.report.push(`cannot repair ${join(this.dir, p.path)}: ${p.message}; restore it from a backup.`);
      return false;
    }
    for (const p of problems) {
      if (!file.files[p.path]) continue; // the round log: below
      delete file.files[p.path];
      const moved = existsSync(join(this.dir, p.path)) ? `, moved to ${this.moveAside(p.path)}` : '';
      this.report.push(`dropped ${p.path} (${p.message})${moved}: it is no longer served`);
    }
    return true;
  }

  /** rewrites both copies of the open round's log with every record intact in either copy */
  repairLog(roundId: number): void {
    const rels = [logPath(roundId), mirrorLogPath(roundId)];
    const paths = rels.map((r) => join(this.dir, r));
    if (!paths.some((p) => existsSync(p))) {
      for (const p of paths) writeFileDurably(p, new Uint8Array(0));
      this.report.push(`${rels[0]} was missing: the open round starts again with no tokens or uploads (all of its uploads are lost)`);
      return;
    }
    const [log, mirror] = readCopies(paths);
    const merged = mergeCopies(log, mirror, 'salvage');
    const tokens = merged.records.filter((r) => r.type === TOKEN_ISSUED).length;
    const uploads = merged.records.length - tokens;
    const same = paths.every((p) => existsSync(p) && readFileSync(p).equals(merged.bytes));
    if (same) {
      this.report.push(`${rels[0]}: intact in both copies, ${tokens} tokens and ${uploads} uploads`);
      return;
    }
    const moved: string[] = [];
    for (const [i, p] of paths.entries()) {
      writeFileDurably(p + '.repaired', merged.bytes);
      if (existsSync(p)) moved.push(this.moveAside(rels[i]));
      renameSync(p + '.repaired', p);
    }
    this.report.push(`${rels[0]}: kept ${merged.records.length} records intact in either copy (${tokens} tokens, ${uploads} uploads); the old copies are in ${moved.join(', ')}`);
    for (const r of merged.restored) this.report.push(`  ${rels[r.copy]} byte offset ${r.offset}: ${r.reason}; kept from ${rels[1 - r.copy]}`);
    if (merged.lost.length) {
      this.report.push(`${rels[0]}: dropped ${merged.lost.length} damaged record${merged.lost.length > 1 ? 's' : ''} (damaged in both copies):`);
      for (const d of merged.lost) this.report.push(`  byte offset ${d.offset}–${d.end - 1} (${d.end - d.offset} bytes): ${d.reasons.join('; ')}`);
      const used = new Set(merged.records.filter((r) => r.type !== TOKEN_ISSUED).map((r) => r.token));
      const unused = merged.records.filter((r) => r.type === TOKEN_ISSUED && !used.has(r.token)).length;
      this.report.push(`  ${unused} issued token${unused === 1 ? ' has' : 's have'} no kept upload (a dropped upload's token is among them, or it was never used)`);
    }
    if (merged.tornAt !== null) this.report.push(`${rels[0]}: dropped a torn last record at byte offset ${merged.tornAt} (never acknowledged in both copies)`);
  }

  /** what the store will find at its next start (empty: it starts) */
  check(file: StateFile): string[] {
    const problems = checkDataDir(this.dir, file).map((p) => `${p.path}: ${p.message}`);
    if (file.round) {
      const [log, mirror] = readCopies([logPath(file.round.id), mirrorLogPath(file.round.id)].map((r) => join(this.dir, r)));
      const d = mergeCopies(log, mirror, 'strict').lost[0];
      if (d) problems.push(`${logPath(file.round.id)}: damaged in both copies at offset ${d.offset}`);
    }
    return problems;
  }

  save(file: StateFile): void {
    writeFileDurably(join(this.dir, STATE_FILE), sealJson(file));
  }
}

/** Repairs `dir`; returns the report and whether the store will start afterwards. */
export function repairDataDir(dir: string): { ok: boolean; report: string[] } {
  const repair = new Repair(dir);
  const file = repair.loadState();
  if (!file || !repair.repairFiles(file)) return { ok: false, report: repair.report };
  if (file.round) repair.repairLog(file.round.id);
  repair.save(file);
  const left = repair.check(file);
  if (left.length) repair.report.push(`still damaged:\n  ${left.join('\n  ')}`);
  else repair.report.push(`the store in ${dir} will start.`);
  return { ok: left.length === 0, report: repair.report };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ options: { data: { type: 'string' }, store: { type: 'string' }, 'redis-prefix': { type: 'string', default: 'silo:' } }, allowPositionals: true });
  const where = values.store ?? values.data ?? positionals[0];
  if (!where) {
    console.error('usage: npm run server:repair -- [--data] DIR | redis://host:port [--redis-prefix silo:]');
    process.exit(2);
  }
  const { ok, report } = /^rediss?:\/\//.test(where) ? await repairRedis(where, values['redis-prefix']) : repairDataDir(where.replace(/^file:/, ''));
  console.log(report.join('\n'));
  process.exit(ok ? 0 : 1);
}
