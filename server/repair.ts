// Repairs an embedded store's data directory that refuses to start because of damage:
//   npm run server:repair -- [--data] DIR      (or: npx tsx server/repair.ts DIR)
// (a Redis store: npm run server:repair -- redis://host:port [--redis-prefix silo:], with every
// instance stopped; see store/repair-redis.ts)
// Keeps every intact record of the open round's log and every intact blob, moves each damaged
// file to DIR/damaged/<time>/ (never deletes), and prints what it dropped (counts, offsets).
// It will not invent what only a backup holds: a damaged or missing state.json (the privacy
// ledger), the current model, or a state older than the models are reported, and nothing changes.
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { scanLog, TOKEN_ISSUED } from './integrity-log.ts';
import { checkDataDir, DAMAGED_DIR, dataFiles, logPath, noStateRefusal, STATE_FILE, type StateFile, writeFileDurably } from './integrity-files.ts';
import { isSealed, openSealedJson, sealJson } from './integrity.ts';
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

  /** rewrites the open round's log with its intact records only */
  repairLog(roundId: number): void {
    const rel = logPath(roundId);
    const path = join(this.dir, rel);
    if (!existsSync(path)) {
      writeFileDurably(path, new Uint8Array(0));
      this.report.push(`${rel} was missing: the open round starts again with no tokens or uploads (all of its uploads are lost)`);
      return;
    }
    const bytes = readFileSync(path);
    const scan = scanLog(bytes, 'salvage');
    const tokens = scan.records.filter((r) => r.type === TOKEN_ISSUED).length;
    const uploads = scan.records.length - tokens;
    if (!scan.damaged.length && scan.tornAt === null) {
      this.report.push(`${rel}: intact, ${tokens} tokens and ${uploads} uploads`);
      return;
    }
    writeFileDurably(path + '.repaired', Buffer.concat(scan.records.map((r) => bytes.subarray(r.offset, r.end))));
    const moved = this.moveAside(rel);
    renameSync(path + '.repaired', path);
    this.report.push(`${rel}: kept ${scan.records.length} intact records (${tokens} tokens, ${uploads} uploads); the damaged log is in ${moved}`);
    if (scan.damaged.length) {
      this.report.push(`${rel}: dropped ${scan.damaged.length} damaged record${scan.damaged.length > 1 ? 's' : ''}:`);
      for (const d of scan.damaged) this.report.push(`  byte offset ${d.offset}–${d.end - 1} (${d.end - d.offset} bytes): ${d.reason}`);
      const used = new Set(scan.records.filter((r) => r.type !== TOKEN_ISSUED).map((r) => r.token));
      const unused = scan.records.filter((r) => r.type === TOKEN_ISSUED && !used.has(r.token)).length;
      this.report.push(`  ${unused} issued token${unused === 1 ? ' has' : 's have'} no kept upload (a dropped upload's token is among them, or it was never used)`);
    }
    if (scan.tornAt !== null) this.report.push(`${rel}: dropped a torn last record at byte offset ${scan.tornAt} (${bytes.length - scan.tornAt} bytes, never acknowledged)`);
  }

  /** what the store will find at its next start (empty: it starts) */
  check(file: StateFile): string[] {
    const problems = checkDataDir(this.dir, file).map((p) => `${p.path}: ${p.message}`);
    if (file.round) {
      const d = scanLog(readFileSync(join(this.dir, logPath(file.round.id))), 'strict').damaged[0];
      if (d) problems.push(`${logPath(file.round.id)}: damaged at offset ${d.offset}`);
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
