// The stores' checksums against every single-byte change and every cut: a change is always
// found and located, a cut is a torn tail only where nothing follows it, and the ledger is
// checked against the model history. Pure logic, exhaustive over small inputs.
import { describe, expect, it } from 'vitest';
import { encodeRecord, scanLog, SUMMARY_ACCEPTED, TOKEN_ISSUED } from '../../server/integrity-log.ts';
import { openSummary, sealSummary } from '../../server/integrity-redis.ts';
import { blobDamage, CHUNK_BYTES, describeBlob, ledgerProblems, openSealedJson, sealJson } from '../../server/integrity.ts';
import type { GlobalState } from '../../server/store.ts';

const token = (i: number) => i.toString(16).padStart(32, '0');
/** a log of a token record and a summary record for each of `n` clients */
function log(n: number): { bytes: Buffer; starts: number[] } {
  const chunks: Uint8Array[][] = [];
  for (let i = 0; i < n; i++) chunks.push(encodeRecord(TOKEN_ISSUED, token(i), null), encodeRecord(SUMMARY_ACCEPTED, token(i), new Uint8Array(20).fill(i + 1)));
  const starts: number[] = [];
  let at = 0;
  for (const c of chunks) {
    starts.push(at);
    at += c.reduce((s, b) => s + b.length, 0);
  }
  return { bytes: Buffer.concat(chunks.flat()), starts };
}

describe('round log records', () => {
  it('every single-byte change, anywhere, is reported as damage at the start of its record, never cut as a torn tail', () => {
    const { bytes, starts } = log(3);
    for (let i = 0; i < bytes.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const changed = Buffer.from(bytes);
        changed[i] ^= flip;
        const scan = scanLog(changed, 'strict');
        const record = starts.filter((s) => s <= i).pop()!;
        expect(scan.tornAt, `byte ${i}`).toBeNull();
        expect(scan.damaged[0]?.offset, `byte ${i}`).toBe(record);
        expect(scan.records.length).toBe(starts.indexOf(record));
      }
    }
  });

  it('every cut is a torn tail at the start of the cut record, keeping all records before it', () => {
    const { bytes, starts } = log(3);
    for (let size = 0; size < bytes.length; size++) {
      const scan = scanLog(bytes.subarray(0, size), 'strict');
      expect(scan.damaged, `cut at ${size}`).toEqual([]);
      const whole = starts.filter((s) => s < size);
      if (starts.includes(size)) expect(scan.tornAt).toBeNull();
      else expect(scan.tornAt, `cut at ${size}`).toBe(whole[whole.length - 1]);
      expect(scan.intactEnd).toBe(starts.includes(size) ? size : whole[whole.length - 1]);
    }
  });

  it('salvage keeps every intact record around a damaged one, whichever byte changed', () => {
    const { bytes, starts } = log(4);
    const victim = 3; // the second client's summary record
    for (let i = starts[victim]; i < starts[victim + 1]; i++) {
      const changed = Buffer.from(bytes);
      changed[i] ^= 0x10;
      const scan = scanLog(changed, 'salvage');
      expect(scan.records.map((r) => r.offset), `byte ${i}`).toEqual(starts.filter((s) => s !== starts[victim]));
      expect(scan.damaged).toEqual([{ offset: starts[victim], end: starts[victim + 1], reason: expect.any(String) }]);
    }
  });
});

describe('blobs and the sealed state', () => {
  it('a changed byte of a blob is located in its chunk; a different length is reported', () => {
    const data = new Uint8Array(3 * CHUNK_BYTES + 100).map((_, i) => i * 7);
    const entry = describeBlob(data);
    expect(blobDamage(data, entry)).toBeNull();
    const changed = data.slice();
    changed[2 * CHUNK_BYTES + 5] ^= 1;
    expect(blobDamage(changed, entry)).toContain(`offset ${2 * CHUNK_BYTES}–${3 * CHUNK_BYTES - 1}`);
    expect(blobDamage(data.subarray(0, 10), entry)).toContain('10 bytes');
  });

  it('every single-byte change of a sealed state is refused, naming it', () => {
    const text = sealJson({ state: { modelVersion: 2, history: [{ roundId: 1, epsilonTotal: 21.44 }] }, files: {} });
    expect(openSealedJson('state.json', text)).toMatchObject({ state: { modelVersion: 2 } });
    for (let i = 0; i < text.length; i++) {
      const changed = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 0x02) + text.slice(i + 1);
      expect(() => openSealedJson('state.json', changed), `byte ${i}`).toThrow(/state\.json/);
    }
  });
});

describe('summaries kept in Redis', () => {
  it('a kept summary round-trips, and every single-byte change of it is refused naming the key and index', () => {
    const summary = Buffer.from('SLFU-a-summary-of-some-length');
    const sealed = sealSummary(summary);
    expect(openSummary('k', 3, sealed).equals(summary)).toBe(true);
    for (let i = 0; i < sealed.length; i++) {
      const changed = Buffer.from(sealed);
      changed[i] ^= 0x08;
      expect(() => openSummary('k', 3, changed), `byte ${i}`).toThrow(/k\[3\]/);
    }
  });
});

describe('ledger against model history', () => {
  const dpRound = (roundId: number, newModelVersion: number, epsilonTotal: number) => ({ kind: 'model' as const, roundId, participants: 10, newModelVersion, epsilonThisRound: 1, epsilonTotal, clipNorm: 1 });
  const state = (over: Partial<GlobalState> = {}): GlobalState => ({
    modelVersion: 3,
    strategy: {},
    accountant: { orders: [], rdp: [], steps: 2 },
    ledger: [{ q: 1, noiseMultiplier: 1, count: 2 }],
    history: [dpRound(1, 2, 1), dpRound(2, 3, 2)],
    ...over,
  });

  it('a consistent state passes', () => {
    expect(ledgerProblems(state())).toEqual([]);
    expect(ledgerProblems({ modelVersion: 1, strategy: {}, accountant: { orders: [], rdp: [], steps: 0 }, ledger: [], history: [] })).toEqual([]);
  });

  it('an emptied history, a reset accountant, or a version the history does not explain are refused', () => {
    expect(ledgerProblems(state({ history: [] })).join()).toMatch(/0 model rounds for model version 3/);
    expect(ledgerProblems(state({ accountant: { orders: [], rdp: [], steps: 0 } })).join()).toMatch(/accountant holds 0 DP releases, the history 2/);
    expect(ledgerProblems(state({ modelVersion: 1 })).join()).toMatch(/model version 1/);
    expect(ledgerProblems(state({ ledger: [{ q: 1, noiseMultiplier: 1, count: 5 }] })).join()).toMatch(/PLD ledger holds 5/);
  });
});
