// The embedded store under faults, as an operator meets them: the aggregator is a real
// process over loopback, killed with SIGKILL or restarted on a data directory damaged on purpose.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { accepted, checkIn, start, summaryOf, tryStart, upload, uploadUntilKilled, type AggregatorProcess } from './process.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function newDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-faults-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function started(dir: string, options: { min?: number; max?: number } = {}): Promise<AggregatorProcess> {
  const p = await start(`file:${dir}`, options);
  cleanups.push(() => p.kill9());
  return p;
}

const repair = (dir: string) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'server/repair.ts', dir]);

/** The byte offsets of every accepted summary in a round log (each summary starts with its magic "SLFU"). */
function summaryOffsets(log: Buffer): number[] {
  const out: number[] = [];
  for (let at = log.indexOf('SLFU'); at >= 0; at = log.indexOf('SLFU', at + 1)) out.push(at);
  return out;
}

/** Checks in `n` clients and uploads all their summaries (concurrently); the tokens and tasks, in order. */
async function fillRound(p: AggregatorProcess, n: number) {
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push(await checkIn(p.client));
  const statuses = await Promise.all(tasks.map((t, i) => upload(p.base, t.task, t.token, summaryOf(t.task, i))));
  expect(statuses.every((s) => s === 202)).toBe(true);
  return tasks;
}

describe('embedded store: crash and corruption, as a process', () => {
  it('kill -9 in the middle of a batch of uploads loses no acknowledged update', async () => {
    const dir = newDir();
    const first = await started(dir, { min: 100, max: 100 });
    const tasks = [];
    for (let i = 0; i < 80; i++) tasks.push(await checkIn(first.client));
    const acked = await uploadUntilKilled(first, tasks, 20);
    expect(acked.size).toBeGreaterThanOrEqual(20);

    const second = await started(dir, { min: 100, max: 100 });
    expect(await accepted(second.base)).toBeGreaterThanOrEqual(acked.size);
    // every acknowledged token is spent (its upload is stored); every other one can retry once
    for (const [i, t] of tasks.entries()) {
      const status = await upload(second.base, t.task, t.token, summaryOf(t.task, i));
      expect(status, `client ${i}`).toBe(acked.has(i) ? 409 : status === 409 ? 409 : 202);
    }
    expect(await accepted(second.base)).toBe(80);
  });

  it("one corrupt byte in a record's header, in both copies: refuses to start naming the files and offset; repair keeps every intact record", async () => {
    const dir = newDir();
    const first = await started(dir);
    await fillRound(first, 80);
    await first.stop();
    const logPath = join(dir, 'rounds', 'r1.log');
    const log = readFileSync(logPath);
    const at = summaryOffsets(log)[39]; // the 40th summary
    // its record starts before the 32-character token and the record header; flip the type byte
    const typeOffset = findRecordStart(log, at);
    log[typeOffset] ^= 0x03;
    writeFileSync(logPath, log);
    writeFileSync(join(dir, 'rounds', 'r1.mirror.log'), log); // one copy alone would be restored from the other (store-mirror.test.ts)

    const refused = await tryStart(`file:${dir}`);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.output).toContain('rounds/r1.log');
    expect(refused.output).toContain('rounds/r1.mirror.log');
    expect(refused.output).toContain(`offset ${typeOffset}`);

    const { stdout } = await repair(dir);
    expect(stdout).toMatch(/dropped 1 damaged record/);
    expect(stdout).toContain(`offset ${typeOffset}`);
    expect(readdirSync(join(dir, 'damaged'), { recursive: true }).some((f) => String(f).endsWith('r1.log'))).toBe(true);
    const second = await started(dir);
    expect(await accepted(second.base)).toBe(79);
  });

  it('one corrupt byte in a summary, in both copies: refuses to start instead of summing a wrong value', async () => {
    const dir = newDir();
    const first = await started(dir);
    await fillRound(first, 10);
    await first.stop();
    const logPath = join(dir, 'rounds', 'r1.log');
    const log = readFileSync(logPath);
    const bad = summaryOffsets(log)[9] + 100; // a value byte of the last record
    log[bad] ^= 0x40;
    writeFileSync(logPath, log);
    writeFileSync(join(dir, 'rounds', 'r1.mirror.log'), log);
    const refused = await tryStart(`file:${dir}`);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.output).toContain('rounds/r1.log');
    const { stdout } = await repair(dir);
    expect(stdout).toMatch(/dropped 1 damaged record/);
    const second = await started(dir);
    expect(await accepted(second.base)).toBe(9);
  });

  it('state.json lost: refuses to start, naming what it found, and leaves models/v1.f32 as it was', async () => {
    const dir = newDir();
    const first = await started(dir, { min: 2, max: 2 });
    await fillRound(first, 2);
    await fillRound(first, 2);
    await first.stop();
    expect(existsSync(join(dir, 'models', 'v3.f32'))).toBe(true);
    const v1 = readFileSync(join(dir, 'models', 'v1.f32'));
    unlinkSync(join(dir, 'state.json'));

    const refused = await tryStart(`file:${dir}`, { min: 2, max: 2 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.output).toContain('state.json');
      expect(refused.output).toContain('models/v3.f32');
    }
    expect(readFileSync(join(dir, 'models', 'v1.f32')).equals(v1)).toBe(true);
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
  });

  it('a state.json older than the model history (restored from a backup): refuses to start', async () => {
    const dir = newDir();
    const first = await started(dir, { min: 2, max: 2 });
    await fillRound(first, 2);
    await first.stop();
    copyFileSync(join(dir, 'state.json'), join(dir, 'state-v2.json'));
    const again = await started(dir, { min: 2, max: 2 });
    await fillRound(again, 2);
    await fillRound(again, 2);
    await again.stop();
    copyFileSync(join(dir, 'state-v2.json'), join(dir, 'state.json'));
    unlinkSync(join(dir, 'state-v2.json'));

    const refused = await tryStart(`file:${dir}`, { min: 2, max: 2 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.output).toContain('models/v4.f32');
  });

  it('a corrupt old model version: refuses to start naming it; repair moves it aside and the rest is served', async () => {
    const dir = newDir();
    const first = await started(dir, { min: 2, max: 2 });
    await fillRound(first, 2);
    await fillRound(first, 2);
    await first.stop();
    const path = join(dir, 'models', 'v2.f32');
    const bytes = readFileSync(path);
    bytes[4000] ^= 0x01;
    writeFileSync(path, bytes);
    const refused = await tryStart(`file:${dir}`, { min: 2, max: 2 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.output).toMatch(/models\/v2\.f32.*offset/);
    const { stdout } = await repair(dir);
    expect(stdout).toContain('models/v2.f32');
    const second = await started(dir, { min: 2, max: 2 });
    expect((await fetch(`${second.base}/fl/v1/model/2`)).status).toBe(404);
    expect((await second.client.downloadModel(3)).weights.length).toBe(2000);
  });
});

describe('embedded store: a crash inside a round close, as a process', () => {
  it('a model written by a close that crashed before its commit is not served, and the close is redone', async () => {
    const dir = newDir();
    const first = await started(dir, { min: 2, max: 2 });
    await fillRound(first, 2);
    const t = await checkIn(first.client);
    await first.stop();
    // what a close killed between its model write and its state.json commit leaves
    writeFileSync(join(dir, 'models', 'v3.f32'), new Uint8Array(8000).fill(7));
    writeFileSync(join(dir, 'optimizer', 'v3.bin'), new Uint8Array(16).fill(7));
    const second = await started(dir, { min: 2, max: 2 });
    expect((await fetch(`${second.base}/fl/v1/model/3`)).status).toBe(404);
    expect(await upload(second.base, t.task, t.token, summaryOf(t.task, 0))).toBe(202);
    const u = await checkIn(second.client);
    expect(await upload(second.base, u.task, u.token, summaryOf(u.task, 1))).toBe(202);
    const v3 = await second.client.downloadModel(3);
    expect(v3.weights.every((w) => Math.abs(w - 0.5) < 0.01)).toBe(true);
  });

  it('a damaged current model: refuses to start, and repair will not invent one', async () => {
    const dir = newDir();
    const first = await started(dir, { min: 2, max: 2 });
    await fillRound(first, 2);
    await first.stop();
    const path = join(dir, 'models', 'v2.f32');
    const bytes = readFileSync(path);
    bytes[10] ^= 0x20;
    writeFileSync(path, bytes);
    const refused = await tryStart(`file:${dir}`, { min: 2, max: 2 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.output).toMatch(/models\/v2\.f32: checksum mismatch at offset 0/);
    const failed = await repair(dir).catch((e: { code: number; stdout: string }) => e);
    expect('code' in failed && failed.code).toBe(1);
    expect(failed.stdout).toMatch(/cannot repair .*models\/v2\.f32.*backup/);
  });
});

/** The offset of the record holding the summary at `summaryAt`: the record header and a 32-character token precede it. */
function findRecordStart(log: Buffer, summaryAt: number): number {
  // records are [u8 type][u8 token length]…[token][payload]: walk back to the token-length byte 32
  for (let start = summaryAt - 32 - 6; start >= summaryAt - 32 - 16; start--) if (log[start + 1] === 32 && (log[start] === 2 || log[start] === 1)) return start;
  throw new Error('no record header found before the summary');
}
