import { describe, expect, it } from 'vitest';
import {
  decodeInputShare,
  decodePublicShare,
  decodeVerifierMessage,
  decodeVerifierShare,
  encodeAggShare,
  encodeInputShare,
  encodePublicShare,
  encodeVerifierMessage,
  encodeVerifierShare,
} from '../../federated/vdaf/codec.ts';
import type { Prio3, Prio3VerifierShare, Prio3VerifyState } from '../../federated/vdaf/prio3.ts';
import {
  prio3Count,
  prio3HigherDegree,
  prio3Histogram,
  prio3MultihotCountVec,
  prio3Sum,
  prio3SumVec,
  prio3SumVecWithMultiproof,
} from '../../federated/vdaf/variants.ts';
import { hex, loadVector, toHex, vectorFiles } from './vdaf-vectors.ts';

interface Report {
  measurement: unknown;
  nonce: string;
  rand: string;
  public_share: string;
  input_shares: string[];
  verifier_shares: string[][];
  verifier_messages: string[];
  out_shares: string[];
}
interface Operation {
  operation: string;
  report_index?: number;
  aggregator_id?: number;
  round?: number;
  success: boolean;
}
interface Vector {
  shares: number;
  ctx: string;
  verify_key: string;
  reports: Report[];
  agg_shares: string[];
  agg_result: unknown;
  operations: Operation[];
  length?: number;
  chunk_length?: number;
  max_measurement?: number;
  max_weight?: number;
}

type AnyPrio3 = Prio3<unknown, unknown>;

/** The instance a vector file describes; the name before the first '_' picks the variant. */
function instanceFor(name: string, v: Vector): AnyPrio3 {
  const variant = name.split('_')[0];
  const s = v.shares;
  const made: Record<string, () => unknown> = {
    Prio3Count: () => prio3Count(s),
    Prio3Sum: () => prio3Sum(s, v.max_measurement!),
    Prio3SumVec: () => prio3SumVec(s, v.length!, v.max_measurement!, v.chunk_length!),
    Prio3Histogram: () => prio3Histogram(s, v.length!, v.chunk_length!),
    Prio3MultihotCountVec: () => prio3MultihotCountVec(s, v.length!, v.max_weight!, v.chunk_length!),
    Prio3SumVecWithMultiproof: () => prio3SumVecWithMultiproof(s, v.length!, v.max_measurement!, v.chunk_length!, 3),
    Prio3HigherDegree: () => prio3HigherDegree(s),
  };
  if (!made[variant]) throw new Error(`no Prio3 variant for ${name}`);
  return made[variant]() as AnyPrio3;
}

/** Runs a vector's operations in order, checking every output byte for byte. */
function runVector(name: string): { steps: string[] } {
  const v = loadVector<Vector>(name);
  const vdaf = instanceFor(name, v);
  const ctx = hex(v.ctx);
  const verifyKey = hex(v.verify_key);
  const states = new Map<string, Prio3VerifyState>();
  const verifierShares = new Map<string, Prio3VerifierShare>();
  const messages = new Map<number, Uint8Array | null>();
  const outShares = new Map<string, bigint[]>();
  const aggShares: bigint[][] = [];
  const steps: string[] = [];
  const key = (r: number, a: number) => `${r}/${a}`;

  for (const op of v.operations) {
    const r = op.report_index ?? 0;
    const a = op.aggregator_id ?? 0;
    const report = v.reports[r];
    // `act` is the VDAF call alone, so a rejection is told apart from a failed comparison.
    let act: () => unknown;
    let check: (result: never) => void;
    switch (op.operation) {
      case 'shard':
        act = () => vdaf.shard(ctx, report.measurement, hex(report.nonce), hex(report.rand));
        check = ({ publicShare, inputShares }: ReturnType<AnyPrio3['shard']>) => {
          expect(toHex(encodePublicShare(vdaf, publicShare))).toBe(report.public_share);
          expect(inputShares.map((s) => toHex(encodeInputShare(vdaf, s)))).toEqual(report.input_shares);
        };
        break;
      case 'verify_init':
        act = () =>
          vdaf.verifyInit(
            verifyKey,
            ctx,
            a,
            hex(report.nonce),
            decodePublicShare(vdaf, hex(report.public_share)),
            decodeInputShare(vdaf, a, hex(report.input_shares[a])),
          );
        check = ({ state, verifierShare }: ReturnType<AnyPrio3['verifyInit']>) => {
          expect(toHex(encodeVerifierShare(vdaf, verifierShare))).toBe(report.verifier_shares[0][a]);
          states.set(key(r, a), state);
          verifierShares.set(key(r, a), verifierShare);
        };
        break;
      case 'verifier_shares_to_message':
        act = () => vdaf.verifierSharesToMessage(ctx, report.verifier_shares[0].map((h) => decodeVerifierShare(vdaf, hex(h))));
        check = (message: Uint8Array | null) => {
          expect(toHex(encodeVerifierMessage(vdaf, message))).toBe(report.verifier_messages[0]);
          messages.set(r, message);
        };
        break;
      case 'verify_next':
        act = () => {
          const state = states.get(key(r, a));
          if (!state) throw new Error('test: verify_next before verify_init');
          return vdaf.verifyNext(state, decodeVerifierMessage(vdaf, hex(report.verifier_messages[0])));
        };
        check = (out: bigint[]) => {
          expect(toHex(vdaf.field.encodeVec(out))).toBe(report.out_shares[a]);
          outShares.set(key(r, a), out);
        };
        break;
      case 'aggregate':
        act = () => {
          const agg = vdaf.aggInit();
          v.reports.forEach((_, i) => {
            const out = outShares.get(key(i, a));
            if (out) vdaf.aggUpdate(agg, out);
          });
          return agg;
        };
        check = (agg: bigint[]) => {
          expect(toHex(encodeAggShare(vdaf, agg))).toBe(v.agg_shares[a]);
          aggShares[a] = agg;
        };
        break;
      case 'unshard':
        act = () => vdaf.unshard(aggShares, v.reports.length);
        check = (result: unknown) => expect(result).toEqual(v.agg_result);
        break;
      default:
        throw new Error(`unknown operation ${op.operation}`);
    }
    if (op.success) {
      check(act() as never);
    } else {
      expect(act, `${op.operation} must reject report ${r}`).toThrow(/^Prio3: /);
    }
    steps.push(`${op.operation}${op.success ? '' : ' (rejected)'}`);
  }
  expect(messages.size + verifierShares.size).toBeGreaterThan(0);
  return { steps };
}

const prio3Files = vectorFiles().filter((f) => f.startsWith('Prio3'));

describe('Prio3 conformance vectors (draft-irtf-cfrg-vdaf, VERSION 18)', () => {
  it('finds the vector files', () => {
    expect(prio3Files.length).toBeGreaterThanOrEqual(25);
  });

  for (const name of prio3Files) {
    it(name, () => {
      const { steps } = runVector(name);
      const v = loadVector<Vector>(name);
      expect(steps.length).toBe(v.operations.length);
      if (name.includes('_bad_')) expect(steps.some((s) => s.endsWith('(rejected)'))).toBe(true);
    });
  }
});
