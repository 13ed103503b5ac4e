// The Redis store under faults: a lost `state` key, a changed byte in a stored blob, an
// instance killed mid-batch. The aggregator runs as a real process on a real redis-server.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { accepted, checkIn, start, summaryOf, tryStart, upload, uploadUntilKilled, type AggregatorProcess } from './process.ts';
import { useRedis } from './use-redis.ts';

const db = useRedis();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const repair = (prefix: string) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'server/repair.ts', db.url, '--redis-prefix', prefix]);
const newPrefix = () => `f${Math.random().toString(36).slice(2)}:`;

async function started(prefix: string, options: { min?: number; max?: number } = {}): Promise<AggregatorProcess> {
  const p = await start(db.url, { prefix, ...options });
  cleanups.push(() => p.kill9());
  return p;
}

async function fillRound(p: AggregatorProcess, n: number): Promise<void> {
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push(await checkIn(p.client));
  const statuses = await Promise.all(tasks.map((t, i) => upload(p.base, t.task, t.token, summaryOf(t.task, i))));
  expect(statuses.every((s) => s === 202)).toBe(true);
}

/** flips one bit of the byte at `offset` of a string key */
async function flipByte(key: string, offset: number): Promise<void> {
  const value = (await db.client.getBuffer(key))!;
  value[offset] ^= 0x04;
  await db.client.set(key, value);
}

describe('Redis store: crash, lost state and damaged blobs, as a process', () => {
  it('kill -9 of an instance in the middle of a batch of uploads loses no acknowledged update', async () => {
    const prefix = newPrefix();
    const first = await started(prefix, { min: 100, max: 100 });
    const tasks = [];
    for (let i = 0; i < 60; i++) tasks.push(await checkIn(first.client));
    const acked = await uploadUntilKilled(first, tasks, 15);
    const second = await started(prefix, { min: 100, max: 100 });
    expect(await accepted(second.base)).toBeGreaterThanOrEqual(acked.size);
    for (const [i, t] of tasks.entries()) {
      const status = await upload(second.base, t.task, t.token, summaryOf(t.task, i));
      if (acked.has(i)) expect(status, `client ${i}`).toBe(409);
      else expect([202, 409]).toContain(status);
    }
    expect(await accepted(second.base)).toBe(60);
  });

  it('the state key lost: refuses to start, naming the model keys it found, and leaves model:1 as it was', async () => {
    const prefix = newPrefix();
    const first = await started(prefix, { min: 2, max: 2 });
    await fillRound(first, 2);
    await fillRound(first, 2);
    await first.stop();
    const v1 = await db.client.getBuffer(`${prefix}model:1`);
    await db.client.del(`${prefix}state`);
    const refused = await tryStart(db.url, { prefix, min: 2, max: 2 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.output).toContain(`${prefix}model:3`);
    expect((await db.client.getBuffer(`${prefix}model:1`))!.equals(v1!)).toBe(true);
    expect(await db.client.exists(`${prefix}state`)).toBe(0);
  });

  it('one changed byte in an older model: refuses to start naming the key and offset; repair renames it aside and the rest is served', async () => {
    const prefix = newPrefix();
    const first = await started(prefix, { min: 2, max: 2 });
    await fillRound(first, 2);
    await fillRound(first, 2);
    await first.stop();
    await flipByte(`${prefix}model:2`, 5000);
    const refused = await tryStart(db.url, { prefix, min: 2, max: 2 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.output).toMatch(new RegExp(`${prefix}model:2.*offset 0`));
    const { stdout } = await repair(prefix);
    expect(stdout).toContain(`dropped ${prefix}model:2`);
    const second = await started(prefix, { min: 2, max: 2 });
    expect((await fetch(`${second.base}/fl/v1/model/2`)).status).toBe(404);
    expect((await second.client.downloadModel(3)).weights.length).toBe(2000);
  });

  it('one changed byte in the state: refuses to start naming the key', async () => {
    const prefix = newPrefix();
    const first = await started(prefix, { min: 2, max: 2 });
    await fillRound(first, 2);
    await first.stop();
    const text = (await db.client.get(`${prefix}state`))!;
    await flipByte(`${prefix}state`, text.indexOf('"participants":2') + 15);
    const refused = await tryStart(db.url, { prefix, min: 2, max: 2 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.output).toContain(`${prefix}state`);
  });

  it("one changed byte in an instance's stored partial sum, in both copies: refuses to start naming them", async () => {
    const prefix = newPrefix();
    const first = await started(prefix, { min: 100, max: 100 });
    await fillRound(first, 5);
    await first.stop();
    const key = `${prefix}round:1:partials`;
    const [field] = await db.client.hkeys(key);
    const sum = (await db.client.hgetBuffer(key, field))!;
    sum[100] ^= 0x10;
    await db.client.hset(key, field, sum);
    await db.client.hset(`${key}-copy`, field, sum); // one copy alone would be restored from the other (store-mirror.test.ts)
    const refused = await tryStart(db.url, { prefix, min: 100, max: 100 });
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.output).toContain(key);
      expect(refused.output).toContain(`${key}-copy`);
    }
    // repair drops that instance's partial sum: the uploads it held are lost, and reported
    const { stdout } = await repair(prefix);
    expect(stdout).toMatch(/instance .*, 5 acknowledged uploads/);
    const second = await started(prefix, { min: 100, max: 100 });
    expect(await accepted(second.base)).toBe(0);
  });
});
