// Faults after an upload was acknowledged: a close that cannot finish, a restart with a full round.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { ServerAdam } from '../../server/server-optimizers.ts';
import type { AggregatorStore } from '../../server/store.ts';
import { until } from '../until.ts';
import { checkInTask, post, startServer, summaryFor, tempDir } from './harness.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length) await cleanups.pop()!();
});

describe('a round that cannot close', () => {
  it('acknowledges the upload that fills it (202, as stored), retries the close, then abandons it with a log line', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void errors.push(args.map(String).join(' ')));
    const dir = tempDir(cleanups);
    // a clock that stands still: no deadline passes, the timer (every 100 ms) only retries closes
    const now = Date.now();
    const { base, agg } = await startServer(cleanups, { dir, serverOptimizer: new ServerAdam(0.01), minParticipants: 1, maxParticipants: 2, roundDurationMs: 400, clock: () => now });
    const client = new FederatedHttpClient(base);
    for (let i = 0; i < 2; i++) {
      const { task, token } = await checkInTask(client);
      await client.uploadSummary(task.roundId, token, summaryFor(task, 0.01));
    }
    expect(agg.status().modelVersion).toBe(2);
    // the optimiser state of v2 is corrupted on disk
    writeFileSync(join(dir, 'optimizer', 'v2.bin'), Buffer.from('garbage'));
    const a = await checkInTask(client);
    const b = await checkInTask(client);
    expect((await post(base, `/fl/v1/rounds/${a.task.roundId}/summary`, summaryFor(a.task, 0.01), { 'x-silo-token': a.token })).status).toBe(202);
    const filling = await post(base, `/fl/v1/rounds/${b.task.roundId}/summary`, summaryFor(b.task, 0.01), { 'x-silo-token': b.token });
    expect(filling.status).toBe(202); // stored and counted: never a 500 after that
    expect(errors.some((e) => e.includes(`closing round ${a.task.roundId} failed`))).toBe(true);
    // the timer retries; after the last attempt the round is abandoned (nothing released) and check-ins get tasks again
    await until('the round to be abandoned', async () => (await agg.fetchStatus()).round?.id !== a.task.roundId, 20_000, 50);
    expect(errors.some((e) => e.includes(`abandoning round ${a.task.roundId}`))).toBe(true);
    expect(agg.status().modelVersion).toBe(2);
    expect((await client.checkIn()).status).toBe('task');
  });
});

describe('a restart with a full round', () => {
  it('closes it at once instead of waiting for the deadline', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const dir = tempDir(cleanups);
    // the first process acknowledges both uploads, then dies before its close (claimClose never returns true)
    const crashing = (s: AggregatorStore) => Object.assign(s, { claimClose: async () => false });
    const first = await startServer(cleanups, { dir, maxParticipants: 2, roundDurationMs: 3_600_000, wrapStore: crashing });
    const client = new FederatedHttpClient(first.base);
    for (let i = 0; i < 2; i++) {
      const { task, token } = await checkInTask(client);
      await client.uploadSummary(task.roundId, token, summaryFor(task, 0.01));
    }
    expect(first.agg.status()).toMatchObject({ modelVersion: 1, round: { accepted: 2 } });
    await first.stop();
    const second = await startServer(cleanups, { dir, maxParticipants: 2, roundDurationMs: 3_600_000 });
    // closed during start, an hour before its deadline
    expect(second.agg.status().round).toBeNull();
    expect(second.agg.status().modelVersion).toBe(2);
  });
});
