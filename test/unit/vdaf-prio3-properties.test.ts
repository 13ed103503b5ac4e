import { describe, expect, it } from 'vitest';
import { decodeInputShare, decodePublicShare, decodeVerifierShare, encodeInputShare, encodePublicShare } from '../../federated/vdaf/codec.ts';
import type { Prio3, Prio3InputShare } from '../../federated/vdaf/prio3.ts';
import { prio3Count, prio3Histogram, prio3MultihotCountVec, prio3Sum, prio3SumVec } from '../../federated/vdaf/variants.ts';

const ctx = new TextEncoder().encode('silo property test');

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

function randomInt(maxInclusive: number): number {
  return Math.floor(Math.random() * (maxInclusive + 1));
}

/** Runs verification of one report across every aggregator; returns the output shares or throws. */
function verifyReport<M, R>(vdaf: Prio3<M, R>, verifyKey: Uint8Array, nonce: Uint8Array, shards: ReturnType<Prio3<M, R>['shardEncoded']>): bigint[][] {
  const inits = shards.inputShares.map((share, aggId) => vdaf.verifyInit(verifyKey, ctx, aggId, nonce, shards.publicShare, share));
  const message = vdaf.verifierSharesToMessage(
    ctx,
    inits.map((i) => i.verifierShare),
  );
  return inits.map((i) => vdaf.verifyNext(i.state, message));
}

/** Shards, verifies and aggregates every measurement; returns the unsharded result. */
function roundTrip<M, R>(vdaf: Prio3<M, R>, measurements: M[]): R {
  const verifyKey = randomBytes(vdaf.verifyKeySize);
  const aggShares = Array.from({ length: vdaf.shares }, () => vdaf.aggInit());
  for (const m of measurements) {
    const nonce = randomBytes(vdaf.nonceSize);
    const shards = vdaf.shard(ctx, m, nonce, randomBytes(vdaf.randSize));
    verifyReport(vdaf, verifyKey, nonce, shards).forEach((out, j) => vdaf.aggUpdate(aggShares[j], out));
  }
  return vdaf.unshard(aggShares, measurements.length);
}

function columnSums(rows: number[][]): number[] {
  return rows[0].map((_, i) => rows.reduce((s, r) => s + r[i], 0));
}

describe('Prio3 round trips on random measurements give the true aggregate', () => {
  for (const shares of [2, 3]) {
    it(`Count, ${shares} aggregators`, () => {
      const ms = Array.from({ length: 20 }, () => randomInt(1));
      expect(roundTrip(prio3Count(shares), ms)).toBe(ms.reduce((a, b) => a + b, 0));
    });

    it(`Sum (max 1337), ${shares} aggregators`, () => {
      const ms = Array.from({ length: 10 }, () => randomInt(1337));
      expect(roundTrip(prio3Sum(shares, 1337), ms)).toBe(ms.reduce((a, b) => a + b, 0));
    });

    it(`SumVec (length 20, max 255, chunk 12), ${shares} aggregators`, () => {
      const ms = Array.from({ length: 6 }, () => Array.from({ length: 20 }, () => randomInt(255)));
      expect(roundTrip(prio3SumVec(shares, 20, 255, 12), ms)).toEqual(columnSums(ms));
    });

    it(`Histogram (length 30, chunk 5), ${shares} aggregators`, () => {
      const ms = Array.from({ length: 8 }, () => randomInt(29));
      const expected = new Array<number>(30).fill(0);
      for (const m of ms) expected[m] += 1;
      expect(roundTrip(prio3Histogram(shares, 30, 5), ms)).toEqual(expected);
    });

    it(`MultihotCountVec (length 64, max weight 5, chunk 8), ${shares} aggregators`, () => {
      const ms = Array.from({ length: 8 }, () => {
        const v = new Array<boolean>(64).fill(false);
        for (let k = randomInt(5); k > 0; k--) v[randomInt(63)] = true;
        return v;
      });
      expect(roundTrip(prio3MultihotCountVec(shares, 64, 5, 8), ms)).toEqual(columnSums(ms.map((v) => v.map(Number))));
    });
  }
});

describe('Prio3Sum at a large bound', () => {
  it('encodes 2^49 - 1 with 49 bits and sums values near the bound exactly', () => {
    const max = 2 ** 49 - 1;
    const vdaf = prio3Sum(2, max);
    expect(vdaf.flp.measLen).toBe(49);
    const ms = [max, max - 1, 2 ** 48, 0];
    expect(roundTrip(vdaf, ms)).toBe(ms.reduce((a, b) => a + b, 0));
  });
});

describe('Prio3 rejects invalid or tampered reports', () => {
  const vdaf = prio3MultihotCountVec(2, 32, 3, 6);
  const verifyKey = randomBytes(32);
  const valid = Array.from({ length: 32 }, (_, i) => i % 11 === 0); // weight 3

  function shardOf(meas: bigint[]) {
    const nonce = randomBytes(16);
    return { nonce, shards: vdaf.shardEncoded(ctx, meas, nonce, randomBytes(vdaf.randSize)) };
  }

  it('accepts the honest encoding', () => {
    const { nonce, shards } = shardOf(vdaf.flp.encode(valid));
    expect(verifyReport(vdaf, verifyKey, nonce, shards)).toHaveLength(2);
  });

  it('rejects a bucket holding 2', () => {
    const meas = vdaf.flp.encode(valid);
    meas[5] = 2n;
    meas[0] = 0n;
    meas[11] = 0n; // the sum is still the claimed weight 3: only the range check can catch it
    const { nonce, shards } = shardOf(meas);
    expect(() => verifyReport(vdaf, verifyKey, nonce, shards)).toThrow(/proof verifier check failed/);
  });

  it('rejects more ones than the maximum weight, even with a matching weight claim', () => {
    const meas = vdaf.flp.encode(valid);
    meas[1] = 1n; // weight 4 > 3; 4 has no valid weight encoding, so claim 3 and be caught by the sum check
    const { nonce, shards } = shardOf(meas);
    expect(() => verifyReport(vdaf, verifyKey, nonce, shards)).toThrow(/proof verifier check failed/);
  });

  it('rejects a tampered leader measurement share, helper seed or blind', () => {
    const tamperings: ((s: Prio3InputShare[]) => void)[] = [
      (s) => {
        if (s[0].kind === 'leader') s[0].measShare[3] = vdaf.field.add(s[0].measShare[3], 1n);
      },
      (s) => {
        if (s[0].kind === 'leader') s[0].proofsShare[0] = vdaf.field.add(s[0].proofsShare[0], 1n);
      },
      (s) => {
        if (s[1].kind === 'helper') s[1].seed = randomBytes(32);
      },
      (s) => {
        s[1].blind = randomBytes(32);
      },
    ];
    for (const tamper of tamperings) {
      const { nonce, shards } = shardOf(vdaf.flp.encode(valid));
      tamper(shards.inputShares);
      expect(() => verifyReport(vdaf, verifyKey, nonce, shards)).toThrow(/^Prio3: /);
    }
  });

  it('rejects a report verified under a different nonce than it was sharded with', () => {
    const { shards } = shardOf(vdaf.flp.encode(valid));
    expect(() => verifyReport(vdaf, verifyKey, randomBytes(16), shards)).toThrow(/^Prio3: /);
  });
});

describe('Prio3 message decoding rejects malformed bytes', () => {
  const vdaf = prio3MultihotCountVec(2, 16, 3, 4);
  const nonce = randomBytes(16);
  const shards = vdaf.shard(ctx, Array.from({ length: 16 }, (_, i) => i < 2), nonce, randomBytes(vdaf.randSize));
  const leaderBytes = encodeInputShare(vdaf, shards.inputShares[0]);
  const helperBytes = encodeInputShare(vdaf, shards.inputShares[1]);

  it('round-trips both input shares and the public share', () => {
    expect(encodeInputShare(vdaf, decodeInputShare(vdaf, 0, leaderBytes))).toEqual(leaderBytes);
    expect(encodeInputShare(vdaf, decodeInputShare(vdaf, 1, helperBytes))).toEqual(helperBytes);
    expect(decodePublicShare(vdaf, encodePublicShare(vdaf, shards.publicShare))).toEqual(shards.publicShare);
  });

  it('rejects truncated, padded or out-of-field shares', () => {
    expect(() => decodeInputShare(vdaf, 0, leaderBytes.subarray(1))).toThrow(/wrong length/);
    expect(() => decodeInputShare(vdaf, 1, new Uint8Array(helperBytes.length + 1))).toThrow(/wrong length/);
    const overflow = leaderBytes.slice();
    overflow.fill(0xff, 0, 16); // first element = 2^128 - 1 > MODULUS
    expect(() => decodeInputShare(vdaf, 0, overflow)).toThrow(/overflows/);
    expect(() => decodePublicShare(vdaf, new Uint8Array(63))).toThrow(/wrong length/);
    expect(() => decodeVerifierShare(vdaf, new Uint8Array(5))).toThrow(/wrong length/);
  });
});
