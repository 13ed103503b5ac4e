// Stores written before checksums start after the upgrade with everything they held, and
// from then on carry checksums.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../server/file-store.ts';
import { scanLog } from '../../server/integrity-log.ts';
import { RedisStore } from '../../server/redis-store.ts';
import type { GlobalState, OpenRound } from '../../server/store.ts';
import { startRedis } from '../../scripts/redis-server.ts';

const model = (value: number) => new Float32Array(100).fill(value);
const asBytes = (f: Float32Array) => new Uint8Array(f.buffer);
const state: GlobalState = {
  modelVersion: 2,
  strategy: {},
  accountant: { orders: [2], rdp: [0.5], steps: 1 },
  ledger: [{ q: 1, noiseMultiplier: 1, count: 1 }],
  history: [{ kind: 'model', roundId: 1, participants: 3, newModelVersion: 2, epsilonThisRound: 0.9, epsilonTotal: 0.9, clipNorm: 1 }],
};
const round = { id: 2, modelVersion: 2, task: { roundId: 2 }, settings: { clipNorm: 1, clientNoiseStd: 0 }, normBound: 2 } as unknown as OpenRound;

/** a record of the layout before checksums: [u8 type][u8 token length][u32 payload length][token][payload] */
function unsealedRecord(type: number, token: string, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt8(type, 0);
  head.writeUInt8(token.length, 1);
  head.writeUInt32LE(payload.length, 2);
  return Buffer.concat([head, Buffer.from(token), payload]);
}

describe('stores written before checksums', () => {
  it('the embedded store upgrades a directory in place, keeping its tokens, accepted uploads and models', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'silo-upgrade-'));
    try {
      for (const sub of ['models', 'rounds']) mkdirSync(join(dir, sub));
      writeFileSync(join(dir, 'models', 'v1.f32'), asBytes(model(0.5)));
      writeFileSync(join(dir, 'models', 'v2.f32'), asBytes(model(0.6)));
      writeFileSync(join(dir, 'state.json'), JSON.stringify({ state, nextRoundId: 3, round }));
      const a = 'a'.repeat(32);
      const b = 'b'.repeat(32);
      writeFileSync(join(dir, 'rounds', 'r2.log'), Buffer.concat([unsealedRecord(1, a), unsealedRecord(1, b), unsealedRecord(2, a, new Uint8Array([83, 76, 70, 85, 9]))]));

      const store = new FileStore(dir);
      expect(await store.init({ ...state, modelVersion: 1, history: [] }, model(0))).toEqual(state);
      expect(await store.counts(2)).toEqual({ selected: 2, accepted: 1 });
      expect(Buffer.from((await store.readModel(1))!).equals(Buffer.from(asBytes(model(0.5))))).toBe(true);
      const summaries = [];
      for await (const s of store.summaries(2)) summaries.push(Buffer.from(s));
      expect(summaries).toEqual([Buffer.from([83, 76, 70, 85, 9])]);
      await store.close();
      expect(readFileSync(join(dir, 'state.json'), 'utf8')).toMatch(/^\{"format":2,"sha256":"[0-9a-f]{64}"/);
      expect(scanLog(readFileSync(join(dir, 'rounds', 'r2.log')), 'strict')).toMatchObject({ damaged: [], tornAt: null, records: { length: 3 } });
      // a crash after the sealed state.json was written but before the new log replaced the
      // old one: the next start finishes the upgrade
      const logFile = join(dir, 'rounds', 'r2.log');
      writeFileSync(logFile + '.upgraded', readFileSync(logFile));
      writeFileSync(logFile, Buffer.concat([unsealedRecord(1, a), unsealedRecord(1, b), unsealedRecord(2, a, new Uint8Array([83, 76, 70, 85, 9]))]));
      const again = new FileStore(dir);
      expect((await again.init(state, model(0))).history).toHaveLength(1);
      expect(await again.counts(2)).toEqual({ selected: 2, accepted: 1 });
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a log written before checksums with a damaged record type is refused, not cut short', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'silo-upgrade-'));
    try {
      for (const sub of ['models', 'rounds']) mkdirSync(join(dir, sub));
      writeFileSync(join(dir, 'models', 'v1.f32'), asBytes(model(0.5)));
      writeFileSync(join(dir, 'models', 'v2.f32'), asBytes(model(0.6)));
      writeFileSync(join(dir, 'state.json'), JSON.stringify({ state, nextRoundId: 3, round }));
      const records = [unsealedRecord(1, 'a'.repeat(32)), unsealedRecord(2, 'a'.repeat(32), new Uint8Array(8)), unsealedRecord(1, 'b'.repeat(32))];
      records[1][0] = 6; // the summary record's type byte
      writeFileSync(join(dir, 'rounds', 'r2.log'), Buffer.concat(records));
      const store = new FileStore(dir);
      await expect(store.init(state, model(0))).rejects.toThrow(`r2.log: damaged record at byte offset ${records[0].length}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('Redis', () => {
    let redis: Awaited<ReturnType<typeof startRedis>>;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(() => redis?.stop());

    it('the Redis store seals a state written before checksums, for the blobs present', async () => {
      const prefix = `u${Math.random().toString(36).slice(2)}:`;
      const first = new RedisStore(redis.url, { prefix });
      await first.init({ ...state, modelVersion: 1, history: [], accountant: { orders: [2], rdp: [0], steps: 0 }, ledger: [] }, model(0.5));
      // what the previous version stored after one round: plain JSON state, model:2
      await first.redis.set(`${prefix}model:2`, Buffer.from(asBytes(model(0.6))));
      await first.redis.set(`${prefix}state`, JSON.stringify(state));
      await first.close();

      const second = new RedisStore(redis.url, { prefix });
      expect(await second.init(state, model(0))).toEqual(state);
      expect((await second.redis.get(`${prefix}state`))!).toMatch(/^\{"format":2,/);
      expect(Buffer.from((await second.readModel(2))!).equals(Buffer.from(asBytes(model(0.6))))).toBe(true);
      await second.close();
    });
  });
});
