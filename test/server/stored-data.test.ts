// Stored data is not trusted blindly: replayed uploads are checked again, and a model file
// that no longer matches the hash recorded when it was written is not served.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FederatedHttpClient } from '../../federated/transport.ts';
import type { AggregatorStore } from '../../server/store.ts';
import { checkInTask, startServer, summaryFor, tempDir } from './harness.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length) await cleanups.pop()!();
});

describe('stored data', () => {
  it('a model file changed on disk is refused (500), not served with a freshly computed hash; a restart refuses to start', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.map(String).join(' ')));
    const dir = tempDir(cleanups);
    const first = await startServer(cleanups, { dir, maxParticipants: 2 });
    const client = new FederatedHttpClient(first.base);
    for (const v of [0.01, 0.03]) {
      const { task, token } = await checkInTask(client);
      await client.uploadSummary(task.roundId, token, summaryFor(task, v));
    }
    expect(first.agg.status().modelVersion).toBe(2);
    // changed under the running server: garbage of the right size
    writeFileSync(join(dir, 'models', 'v2.f32'), Buffer.alloc(500 * 4, 7));
    const res = await fetch(first.base + '/fl/v1/model/2');
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: string }).error).toMatch(/corrupt|checksum|match/);
    expect((await fetch(first.base + '/fl/v1/model/latest')).status).toBe(500);
    expect((await client.downloadModel(1)).weights[0]).toBe(0.5);
    await first.stop();
    // and the store will not start on it again, naming the file
    await expect(startServer(cleanups, { dir, maxParticipants: 2 })).rejects.toThrow(/models\/v2\.f32/);
  });

  it('replay checks every stored upload again: one above the norm bound is left out of the round, with a log line', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.map(String).join(' ')));
    const dir = tempDir(cleanups);
    const first = await startServer(cleanups, { dir, minParticipants: 1, maxParticipants: 3 });
    const client = new FederatedHttpClient(first.base);
    const tasks = [];
    for (const v of [0.01, 0.03]) {
      const t = await checkInTask(client);
      tasks.push(t);
      await client.uploadSummary(t.task.roundId, t.token, summaryFor(t.task, v));
    }
    await first.stop();
    // the store hands back the first upload altered to norm 0.5·√500 ≫ clip 1
    const tampered = summaryFor(tasks[0].task, 0.5);
    const tampering = (s: AggregatorStore) => {
      const stored = s.summaries.bind(s);
      return Object.assign(s, {
        summaries: async function* (roundId: number) {
          let i = 0;
          for await (const bytes of stored(roundId)) yield i++ === 0 ? tampered : bytes;
        },
      });
    };
    const second = await startServer(cleanups, { dir, minParticipants: 1, maxParticipants: 3, wrapStore: tampering });
    expect(errors.some((e) => e.includes('fails its check and is left out'))).toBe(true);
    expect(await second.agg.closeRoundNow()).toBe(true);
    expect(second.agg.status().history[0].participants).toBe(1);
    expect((await new FederatedHttpClient(second.base).downloadModel(2)).weights[0]).toBeCloseTo(0.5 + 0.03, 3);
  });
});
