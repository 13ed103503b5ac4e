// Zero acknowledged updates lost under any single-record corruption: every byte of a round's
// stored uploads is changed in one copy, the store restarts, and the accepted count and the
// uploads (hence every sum) are what they were; a record damaged in both copies refuses the
// start naming both; repair keeps every record intact in either copy. The sweep runs the real
// stores in this process (a restart is a new store object on the same files or keys, a few ms);
// the process tests below run the aggregator as its own process, killed or restarted.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { FileStore } from '../../server/file-store.ts';
import { RedisStore } from '../../server/redis-store.ts';
import { repairRedis } from '../../server/store/repair-redis.ts';
import { FedAvg, TrimmedMean } from '../../server/strategies.ts';
import { repairDataDir } from '../../server/repair.ts';
import type { GlobalState } from '../../server/store.ts';
import { checkInTask, startServer, summaryFor } from '../server/harness.ts';
import { accepted, checkIn, start, summaryOf, tryStart, upload, uploadUntilKilled, type AggregatorProcess } from './process.ts';
import { useRedis } from './use-redis.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  vi.restoreAllMocks();
});
function newDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-mirror-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const UNUSED_STATE = { modelVersion: 1, strategy: {}, accountant: {}, history: [] } as GlobalState;
const flips = [0x01, 0x80, 0xff, 0x10];

/** a round of `n` accepted uploads (small model, 8-bit: every record small) in `dir`, left open */
async function openRoundWith(dir: string, n: number): Promise<void> {
  const s = await startServer(cleanups, { dir, length: 24, bits: 8, minParticipants: 2, maxParticipants: 50 });
  const client = new FederatedHttpClient(s.base);
  for (let i = 0; i < n; i++) {
    const { task, token } = await checkInTask(client);
    await client.uploadSummary(task.roundId, token, summaryFor(task, 0.01 * (i + 1)));
  }
  await s.stop();
}

/** a restart on `dir`: the accepted count and every stored upload, or the refusal */
async function restart(dir: string): Promise<{ accepted: number; uploads: Buffer } | { refused: string }> {
  const store = new FileStore(dir);
  try {
    await store.init(UNUSED_STATE, new Float32Array(0));
  } catch (e) {
    await store.close();
    return { refused: (e as Error).message };
  }
  const parts: Buffer[] = [];
  for await (const u of store.summaries(1)) parts.push(Buffer.from(u));
  const { accepted } = await store.counts(1);
  await store.close();
  return { accepted, uploads: Buffer.concat(parts) };
}

/** record start offsets of a round log ([u8 type][u8 token length][u32 payload length][u32 crc][token][payload][u32 crc]) */
function recordStarts(log: Buffer): number[] {
  const starts: number[] = [];
  for (let off = 0; off < log.length; off += 10 + log[off + 1] + log.readUInt32LE(off + 2) + 4) starts.push(off);
  return starts;
}

describe('file store: mirrored round log', () => {
  it('every byte of the round log changed in one copy (either copy): restart keeps the accepted count and every upload, and both copies agree again', async () => {
    const dir = newDir();
    await openRoundWith(dir, 4);
    const logPath = join(dir, 'rounds', 'r1.log');
    const mirrorPath = join(dir, 'rounds', 'r1.mirror.log');
    const log = readFileSync(logPath);
    expect(readFileSync(mirrorPath).equals(log)).toBe(true);
    const before = await restart(dir);
    expect(before).toMatchObject({ accepted: 4 });
    if (!('uploads' in before)) return;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    let cases = 0;
    for (const [copy, path] of [logPath, mirrorPath].entries()) {
      for (let i = 0; i < log.length; i++) {
        const changed = Buffer.from(log);
        changed[i] ^= flips[i % flips.length];
        writeFileSync(path, changed);
        writeFileSync(copy ? logPath : mirrorPath, log);
        warn.mockClear();
        const after = await restart(dir);
        expect(after, `copy ${copy}, byte ${i}`).toEqual(before);
        expect(warn.mock.calls.join('\n'), `copy ${copy}, byte ${i}`).toMatch(/restored from rounds\/r1(\.mirror)?\.log/);
        expect(readFileSync(logPath).equals(log) && readFileSync(mirrorPath).equals(log), `copy ${copy}, byte ${i}: copies restored`).toBe(true);
        cases++;
      }
    }
    // a restart after the restore finds nothing to restore
    warn.mockClear();
    expect(await restart(dir)).toEqual(before);
    expect(warn).not.toHaveBeenCalled();
    console.log(`file store: ${cases} single-byte cases (${log.length} bytes × 2 copies, ${recordStarts(log).length} records), none lost`);
  });

  it('different records damaged in each copy are each restored from the other; the same record in both refuses naming both files and the offset; repair keeps every record intact in either copy', async () => {
    const dir = newDir();
    await openRoundWith(dir, 4);
    const logPath = join(dir, 'rounds', 'r1.log');
    const mirrorPath = join(dir, 'rounds', 'r1.mirror.log');
    const log = readFileSync(logPath);
    const starts = recordStarts(log);
    const before = await restart(dir);
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const damage = (at: number[]) => {
      const b = Buffer.from(log);
      for (const r of at) b[starts[r] + 50] ^= 0x20;
      return b;
    };
    // records 1 and 5 damaged in the log, 3 in the mirror: all restored
    writeFileSync(logPath, damage([1, 5]));
    writeFileSync(mirrorPath, damage([3]));
    expect(await restart(dir)).toEqual(before);

    // record 3 (the second upload) damaged in both, 1 only in the log, 7 only in the mirror
    writeFileSync(logPath, damage([1, 3]));
    writeFileSync(mirrorPath, damage([3, 7]));
    const refused = await restart(dir);
    expect(refused).toHaveProperty('refused');
    if (!('refused' in refused)) return;
    expect(refused.refused).toContain(`${logPath}: damaged record at byte offset ${starts[3]}`);
    expect(refused.refused).toContain(`${mirrorPath}: damaged record at byte offset ${starts[3]}`);
    const { ok, report } = repairDataDir(dir);
    expect(ok).toBe(true);
    expect(report.join('\n')).toMatch(/dropped 1 damaged record \(damaged in both copies\)/);
    const repaired = await restart(dir);
    expect(repaired).toMatchObject({ accepted: 3 });
    if (!('uploads' in repaired) || !('uploads' in before)) return;
    const one = before.uploads.length / 4;
    expect(repaired.uploads.equals(Buffer.concat([before.uploads.subarray(0, one), before.uploads.subarray(2 * one)]))).toBe(true);
    expect(readFileSync(logPath).equals(readFileSync(mirrorPath))).toBe(true);
  });

  it('a log written before mirrors (no mirror file) starts as before and gets its mirror', async () => {
    const dir = newDir();
    await openRoundWith(dir, 3);
    rmSync(join(dir, 'rounds', 'r1.mirror.log'));
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(await restart(dir)).toMatchObject({ accepted: 3 });
    expect(readFileSync(join(dir, 'rounds', 'r1.mirror.log')).equals(readFileSync(join(dir, 'rounds', 'r1.log')))).toBe(true);
  });
});

describe('file store: mirrored round log, as a process', () => {
  it('kill -9 mid-batch, then one damaged byte in each copy (different records): restarts lose no acknowledged update', async () => {
    const dir = newDir();
    const first = await start(`file:${dir}`, { min: 100, max: 100 });
    cleanups.push(() => first.kill9());
    const tasks = [];
    for (let i = 0; i < 40; i++) tasks.push(await checkIn(first.client));
    const acked = await uploadUntilKilled(first, tasks, 10);
    const logPath = join(dir, 'rounds', 'r1.log');
    const mirrorPath = join(dir, 'rounds', 'r1.mirror.log');
    // the kill may leave a torn tail in either copy: a byte in the first summary record of one
    // copy and in the last whole record of the other
    const log = readFileSync(logPath);
    const mirror = readFileSync(mirrorPath);
    const firstSummary = log.indexOf('SLFU');
    log[firstSummary + 60] ^= 0x01;
    const starts = recordStarts(mirror.subarray(0, Math.min(log.length, mirror.length)));
    mirror[starts[starts.length - 2] + 12] ^= 0x01;
    writeFileSync(logPath, log);
    writeFileSync(mirrorPath, mirror);

    const second = await tryStart(`file:${dir}`, { min: 100, max: 100 });
    expect(second.ok, second.ok ? '' : second.output).toBe(true);
    if (!second.ok) return;
    cleanups.push(() => second.proc.kill9());
    expect(await accepted(second.proc.base)).toBeGreaterThanOrEqual(acked.size);
    for (const [i, t] of tasks.entries()) {
      const status = await upload(second.proc.base, t.task, t.token, summaryOf(t.task, i));
      if (acked.has(i)) expect(status, `client ${i}`).toBe(409);
    }
    expect(await accepted(second.proc.base)).toBe(40);
    await second.proc.stop();
    const third: AggregatorProcess = await start(`file:${dir}`, { min: 100, max: 100 });
    cleanups.push(() => third.kill9());
    expect(await accepted(third.base)).toBe(40);
    expect(readFileSync(logPath).equals(readFileSync(mirrorPath))).toBe(true);
  });
});

describe('Redis store: copied partial sums and summaries', () => {
  const db = useRedis();

  /** a round of `n` accepted uploads under `prefix`, left open ('sum': FedAvg's partial sums; 'summaries': trimmed mean's list) */
  async function openRedisRound(prefix: string, keep: 'sum' | 'summaries', n: number): Promise<void> {
    const strategy = keep === 'sum' ? new FedAvg(1) : new TrimmedMean(1, 0.1);
    const s = await startServer(cleanups, { dir: newDir(), length: 24, bits: 8, minParticipants: 2, maxParticipants: 50, strategy, wrapStore: () => new RedisStore(db.url, { prefix }) });
    const client = new FederatedHttpClient(s.base);
    for (let i = 0; i < n; i++) {
      const { task, token } = await checkInTask(client);
      await client.uploadSummary(task.roundId, token, summaryFor(task, 0.01 * (i + 1)));
    }
    await s.stop();
  }

  /** a restart on `prefix`: the accepted count and the round's sum (or every kept upload), or the refusal */
  async function restartRedis(prefix: string, keep: 'sum' | 'summaries'): Promise<{ accepted: number; uploads: Buffer } | { refused: string }> {
    const store = new RedisStore(db.url, { prefix });
    try {
      await store.init(UNUSED_STATE, new Float32Array(0));
      const { accepted } = await store.counts(1);
      const parts: Buffer[] = [];
      if (keep === 'sum') parts.push(Buffer.from((await store.roundSum(1)).sum.buffer));
      else for await (const u of store.summaries(1)) parts.push(Buffer.from(u));
      return { accepted, uploads: Buffer.concat(parts) };
    } catch (e) {
      return { refused: (e as Error).message };
    } finally {
      await store.close();
    }
  }

  /** every stored record of the round, with a way to write it back: hash fields and list entries */
  async function records(prefix: string): Promise<{ name: string; value: Buffer; write: (b: Buffer) => Promise<unknown> }[]> {
    const out = [];
    for (const key of ['partials', 'partials-copy', 'partial-counts', 'partial-counts-copy'].map((k) => `${prefix}round:1:${k}`)) {
      for (const field of await db.client.hkeys(key)) out.push({ name: `${key} ${field}`, value: (await db.client.hgetBuffer(key, field))!, write: (b: Buffer) => db.client.hset(key, field, b) });
    }
    for (const key of ['summaries', 'summaries-copy'].map((k) => `${prefix}round:1:${k}`)) {
      const entries = await db.client.lrangeBuffer(key, 0, -1);
      for (const [i, e] of entries.entries()) out.push({ name: `${key}[${i}]`, value: e, write: (b: Buffer) => db.client.lset(key, i, b) });
    }
    return out;
  }

  for (const keep of ['sum', 'summaries'] as const) {
    it(`${keep} round: every byte of every stored record changed in one copy: restart keeps the accepted count and the sum, and restores the copy`, async () => {
      const prefix = `m${Math.random().toString(36).slice(2)}:`;
      await openRedisRound(prefix, keep, 4);
      const before = await restartRedis(prefix, keep);
      expect(before).toMatchObject({ accepted: 4 });
      const all = await records(prefix);
      expect(all.length).toBe(keep === 'sum' ? 4 : 8);
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      let cases = 0;
      for (const r of all) {
        for (let i = 0; i < r.value.length; i++) {
          const changed = Buffer.from(r.value);
          changed[i] ^= flips[i % flips.length];
          await r.write(changed);
          warn.mockClear();
          expect(await restartRedis(prefix, keep), `${r.name} byte ${i}`).toEqual(before);
          expect(warn.mock.calls.join('\n'), `${r.name} byte ${i}`).toMatch(/restored from/);
          const now = await records(prefix);
          expect(now.map((x) => x.value.toString('hex')), `${r.name} byte ${i}: copy restored`).toEqual(all.map((x) => x.value.toString('hex')));
          cases++;
        }
      }
      console.log(`Redis store, ${keep} round: ${cases} single-byte cases over ${all.length} stored records, none lost`);
    });
  }

  it('a kept summary damaged in both copies refuses naming both; ones damaged in one copy are restored; repair drops only the doubly damaged', async () => {
    const prefix = `m${Math.random().toString(36).slice(2)}:`;
    await openRedisRound(prefix, 'summaries', 4);
    const before = await restartRedis(prefix, 'summaries');
    const list = `${prefix}round:1:summaries`;
    const flip = async (key: string, index: number) => {
      const e = (await db.client.lindexBuffer(key, index))!;
      e[20] ^= 0x04;
      await db.client.lset(key, index, e);
    };
    await flip(list, 1);
    await flip(`${list}-copy`, 1);
    await flip(list, 2);
    await flip(`${list}-copy`, 3);
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const refused = await restartRedis(prefix, 'summaries');
    expect(refused).toHaveProperty('refused');
    if (!('refused' in refused) || !('uploads' in before)) return;
    expect(refused.refused).toContain(`${list}[1]`);
    expect(refused.refused).toContain(`${list}-copy[1]`);
    const { ok, report } = await repairRedis(db.url, prefix);
    expect(ok, report.join('\n')).toBe(true);
    expect(report.join('\n')).toMatch(/dropped .*summaries\[1\].*1 acknowledged upload/);
    const repaired = await restartRedis(prefix, 'summaries');
    const one = before.uploads.length / 4;
    expect(repaired).toEqual({ accepted: 3, uploads: Buffer.concat([before.uploads.subarray(0, one), before.uploads.subarray(2 * one)]) });
  });

  it("as a process: one changed byte in an instance's partial sum (one copy), then kill -9: the restarted instance counts every acknowledged upload and restores the copy", async () => {
    const prefix = `m${Math.random().toString(36).slice(2)}:`;
    const first = await start(db.url, { prefix, min: 100, max: 100 });
    cleanups.push(() => first.kill9());
    const tasks = [];
    for (let i = 0; i < 6; i++) tasks.push(await checkIn(first.client));
    for (const [i, t] of tasks.entries()) expect(await upload(first.base, t.task, t.token, summaryOf(t.task, i))).toBe(202);
    await first.kill9();
    const key = `${prefix}round:1:partials`;
    const [field] = await db.client.hkeys(key);
    const sum = (await db.client.hgetBuffer(key, field))!;
    sum[40] ^= 0x01;
    await db.client.hset(key, field, sum);
    const second = await tryStart(db.url, { prefix, min: 100, max: 100 });
    expect(second.ok, second.ok ? '' : second.output).toBe(true);
    if (!second.ok) return;
    cleanups.push(() => second.proc.kill9());
    expect(await accepted(second.proc.base)).toBe(6);
    for (const [i, t] of tasks.entries()) expect(await upload(second.proc.base, t.task, t.token, summaryOf(t.task, i))).toBe(409);
    expect((await db.client.hgetBuffer(key, field))!.equals((await db.client.hgetBuffer(`${key}-copy`, field))!)).toBe(true);
  });
});
