// The embedded store's data directory checked against its state at start (and by repair):
// every blob the state names is there and intact, no model or release newer than the state
// (a state.json older than the files), and the privacy ledger agrees with the model history.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { blobDamage, ledgerProblems, type Manifest } from './integrity.ts';
import type { GlobalState, OpenRound } from './store.ts';

/** state.json's data */
export interface StateFile {
  state: GlobalState;
  nextRoundId: number;
  round: OpenRound | null;
  /** every model, popularity release and optimiser state the state names, with its checksums */
  files: Manifest;
}

export const STATE_FILE = 'state.json';
/** where repair moves damaged files (never read by the store) */
export const DAMAGED_DIR = 'damaged';

export function writeFileDurably(path: string, data: Uint8Array | string): void {
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

export const modelPath = (v: number) => `models/v${v}.f32`;
export const popularityPath = (v: number) => `popularity/p${v}.f32`;
export const optimizerPath = (v: number) => `optimizer/v${v}.bin`;
export const logPath = (roundId: number) => `rounds/r${roundId}.log`;
/** the round log's second copy (store/mirror-log.ts) */
export const mirrorLogPath = (roundId: number) => `rounds/r${roundId}.mirror.log`;

/** Every file in the data directory (relative paths), but those repair moved aside. */
export function dataFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length).replace(/^[/\\]+/, '').replaceAll('\\', '/'))
    .filter((p) => !p.startsWith(DAMAGED_DIR + '/'))
    .sort();
}

/** the versions of the files named `<prefix><N><suffix>` in `folder` */
export function versionsIn(dir: string, folder: string, prefix: string, suffix: string): number[] {
  const re = new RegExp(`^${prefix}(\\d+)${suffix.replace('.', '\\.')}$`);
  if (!existsSync(join(dir, folder))) return [];
  return readdirSync(join(dir, folder))
    .map((f) => re.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export interface DirProblem {
  /** relative path of the file concerned */
  path: string;
  message: string;
  /** 'move-aside': repair can drop it (a damaged older version); 'restore': only a backup can fix it */
  fix: 'move-aside' | 'restore';
}

/** What disagrees between state.json and the files (empty: the store may start). */
export function checkDataDir(dir: string, file: StateFile): DirProblem[] {
  const problems: DirProblem[] = ledgerProblems(file.state).map((message) => ({ path: STATE_FILE, message, fix: 'restore' as const }));
  const current = modelPath(file.state.modelVersion);
  if (!file.files[current]) problems.push({ path: current, message: 'the current model is not recorded in state.json', fix: 'restore' });
  for (const [path, entry] of Object.entries(file.files)) {
    const fix = path === current ? 'restore' : 'move-aside';
    if (!existsSync(join(dir, path))) {
      problems.push({ path, message: 'missing (state.json records it)', fix });
      continue;
    }
    const damage = blobDamage(readFileSync(join(dir, path)), entry);
    if (damage) problems.push({ path, message: damage, fix });
  }
  // a crashed close may leave the next version written but not committed; anything newer means
  // the state is older than the files it should account for
  const newer = (versions: number[], latest: number, name: (v: number) => string, what: string) => {
    const beyond = versions.filter((v) => v > latest + 1);
    if (beyond.length) problems.push({ path: STATE_FILE, message: `${beyond.map(name).join(', ')} exist but state.json names ${what} ${latest} as the latest: state.json is older than the data (restored from a backup?); its privacy ledger would not cover them`, fix: 'restore' });
  };
  newer(versionsIn(dir, 'models', 'v', '.f32'), file.state.modelVersion, modelPath, 'model version');
  newer(versionsIn(dir, 'popularity', 'p', '.f32'), file.state.popularity?.version ?? 0, popularityPath, 'popularity release');
  if (file.round && !existsSync(join(dir, logPath(file.round.id))) && !existsSync(join(dir, mirrorLogPath(file.round.id)))) problems.push({ path: logPath(file.round.id), message: "missing: it holds the open round's issued tokens and acknowledged uploads", fix: 'move-aside' });
  return problems;
}

export function refusal(dir: string, problems: DirProblem[]): string {
  const lines = problems.map((p) => `  ${join(dir, p.path)}: ${p.message}`);
  const repairable = problems.every((p) => p.fix === 'move-aside');
  return `the store in ${dir} refuses to start:\n${lines.join('\n')}\n` + (repairable ? `Run \`npm run server:repair -- ${dir}\`: it moves the damaged files aside and reports what is dropped.` : 'Restore the files named from a backup; the store will not start without its privacy ledger and model history.');
}

/** The store starts fresh only in an empty directory: anything else there may be a lost state's data. */
export function noStateRefusal(dir: string, present: string[]): string {
  const shown = present.length > 12 ? [...present.slice(0, 12), `… ${present.length - 12} more`] : present;
  return `the store in ${dir} refuses to start: there is no ${STATE_FILE} (the privacy ledger, ε spent, and the model history), but the directory holds ${shown.join(', ')}. Restore ${STATE_FILE} from a backup; a fresh store starts only in an empty directory (move this one away to start over).`;
}
