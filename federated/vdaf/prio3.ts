/**
 * Prio3 of the VDAF draft (version 18): a client shards a measurement into additive shares
 * with a fully linear proof; the aggregators verify it on their shares in one round
 * (verify_init → verifier_shares_to_message → verify_next), then sum output shares.
 * Aggregator 0 (the leader) gets explicit vectors; every other aggregator gets an XOF seed.
 */
import { type Field, vecAdd, vecSub } from './field.ts';
import type { FlpBBCGGI19 } from './flp.ts';
import { XofTurboShake128, bytesEqual, concatBytes, formatDst } from './xof.ts';

const USAGE_MEAS_SHARE = 1;
const USAGE_PROOF_SHARE = 2;
const USAGE_JOINT_RANDOMNESS = 3;
const USAGE_PROVE_RANDOMNESS = 4;
const USAGE_QUERY_RANDOMNESS = 5;
const USAGE_JOINT_RAND_SEED = 6;
const USAGE_JOINT_RAND_PART = 7;

export type LeaderInputShare = {
  kind: 'leader';
  measShare: bigint[];
  proofsShare: bigint[];
  blind: Uint8Array | null;
  /** The bytes measShare was decoded from, if unchanged since: spares re-encoding it for hashing. */
  measShareEncoding?: Uint8Array;
};
export type HelperInputShare = { kind: 'helper'; seed: Uint8Array; blind: Uint8Array | null };
export type Prio3InputShare = LeaderInputShare | HelperInputShare;
/** The joint randomness parts of every aggregator, or null when the circuit needs none. */
export type Prio3PublicShare = Uint8Array[] | null;
export type Prio3Shards = { publicShare: Prio3PublicShare; inputShares: Prio3InputShare[] };
export type Prio3VerifyState = { outShare: bigint[]; correctedJointRandSeed: Uint8Array | null };
export type Prio3VerifierShare = { verifiersShare: bigint[]; jointRandPart: Uint8Array | null };

export class Prio3<M, R> {
  readonly seedSize = XofTurboShake128.SEED_SIZE;
  readonly nonceSize = 16;
  readonly verifyKeySize = XofTurboShake128.SEED_SIZE;
  readonly randSize: number;
  readonly field: Field;

  constructor(
    readonly id: number,
    readonly shares: number,
    readonly proofs: number,
    readonly flp: FlpBBCGGI19<M, R>,
  ) {
    if (shares < 2 || shares > 255) throw new Error('Prio3: shares must be in [2, 256)');
    if (proofs < 1 || proofs > 255) throw new Error('Prio3: proofs must be in [1, 256)');
    this.field = flp.field;
    this.randSize = this.seedSize * shares * (flp.jointRandLen > 0 ? 2 : 1);
  }

  get usesJointRand(): boolean {
    return this.flp.jointRandLen > 0;
  }

  domainSeparationTag(usage: number, ctx: Uint8Array): Uint8Array {
    return concatBytes([formatDst(0, this.id, usage), ctx]);
  }

  shard(ctx: Uint8Array, measurement: M, nonce: Uint8Array, rand: Uint8Array): Prio3Shards {
    return this.shardEncoded(ctx, this.flp.encode(measurement), nonce, rand);
  }

  /**
   * Shards an already-encoded measurement. It does not check validity: that is the proof's
   * job, and tests use this to play a cheating client.
   */
  shardEncoded(ctx: Uint8Array, meas: readonly bigint[], nonce: Uint8Array, rand: Uint8Array): Prio3Shards {
    if (meas.length !== this.flp.measLen) throw new Error('Prio3: encoded measurement has the wrong length');
    if (nonce.length !== this.nonceSize) throw new Error('Prio3: incorrect nonce size');
    if (rand.length !== this.randSize) throw new Error('Prio3: incorrect size of random bytes argument');
    const seeds: Uint8Array[] = [];
    for (let i = 0; i < this.randSize; i += this.seedSize) seeds.push(rand.subarray(i, i + this.seedSize));
    const jr = this.usesJointRand;
    // With joint randomness the helper seeds alternate share, blind; then leader blind, prove seed.
    const helperShares = seeds.filter((_, i) => i < (this.shares - 1) * (jr ? 2 : 1) && (!jr || i % 2 === 0));
    const helperBlinds = jr ? seeds.filter((_, i) => i < (this.shares - 1) * 2 && i % 2 === 1) : [];
    const rest = seeds.slice((this.shares - 1) * (jr ? 2 : 1));
    const leaderBlind = jr ? rest[0] : null;
    const proveSeed = jr ? rest[1] : rest[0];

    let leaderMeasShare = meas.slice();
    const jointRandParts: Uint8Array[] = [];
    for (let j = 0; j < this.shares - 1; j++) {
      const helperMeasShare = this.helperMeasShare(ctx, j + 1, helperShares[j]);
      leaderMeasShare = vecSub(this.field, leaderMeasShare, helperMeasShare);
      if (jr) jointRandParts.push(this.jointRandPart(ctx, j + 1, helperBlinds[j], helperMeasShare, nonce));
    }
    let jointRands: bigint[] = [];
    if (jr && leaderBlind) {
      jointRandParts.unshift(this.jointRandPart(ctx, 0, leaderBlind, leaderMeasShare, nonce));
      jointRands = this.jointRands(ctx, this.jointRandSeed(ctx, jointRandParts));
    }
    const proveRands = this.proveRands(ctx, proveSeed);
    const { proveRandLen, jointRandLen } = this.flp;
    let proofs: bigint[] = [];
    for (let k = 0; k < this.proofs; k++) {
      const proveRand = proveRands.slice(k * proveRandLen, (k + 1) * proveRandLen);
      const jointRand = jointRands.slice(k * jointRandLen, (k + 1) * jointRandLen);
      proofs = proofs.concat(this.flp.prove(meas, proveRand, jointRand));
    }
    for (let j = 0; j < this.shares - 1; j++) proofs = vecSub(this.field, proofs, this.helperProofsShare(ctx, j + 1, helperShares[j]));

    const inputShares: Prio3InputShare[] = [{ kind: 'leader', measShare: leaderMeasShare, proofsShare: proofs, blind: leaderBlind }];
    for (let j = 0; j < this.shares - 1; j++) {
      inputShares.push({ kind: 'helper', seed: helperShares[j], blind: jr ? helperBlinds[j] : null });
    }
    return { publicShare: jr ? jointRandParts : null, inputShares };
  }

  /** The draft's verify_init (formerly prep_init): query this aggregator's shares. */
  verifyInit(
    verifyKey: Uint8Array,
    ctx: Uint8Array,
    aggId: number,
    nonce: Uint8Array,
    publicShare: Prio3PublicShare,
    inputShare: Prio3InputShare,
  ): { state: Prio3VerifyState; verifierShare: Prio3VerifierShare } {
    if (verifyKey.length !== this.verifyKeySize) throw new Error('Prio3: incorrect verify key size');
    if (nonce.length !== this.nonceSize) throw new Error('Prio3: incorrect nonce size');
    if (aggId < 0 || aggId >= this.shares) throw new Error('Prio3: aggregator id out of range');
    const { measShare, proofsShare, blind, measShareEncoding } = this.expandInputShare(ctx, aggId, inputShare);
    const outShare = this.flp.truncate(measShare);
    let jointRands: bigint[] = [];
    let correctedJointRandSeed: Uint8Array | null = null;
    let jointRandPart: Uint8Array | null = null;
    if (this.usesJointRand) {
      if (!blind || !publicShare || publicShare.length !== this.shares) throw new Error('Prio3: missing joint randomness inputs');
      jointRandPart = this.jointRandPart(ctx, aggId, blind, measShare, nonce, measShareEncoding);
      const parts = publicShare.slice();
      parts[aggId] = jointRandPart;
      correctedJointRandSeed = this.jointRandSeed(ctx, parts);
      jointRands = this.jointRands(ctx, correctedJointRandSeed);
    }
    const queryRands = this.queryRands(verifyKey, ctx, nonce);
    const { proofLen, queryRandLen, jointRandLen } = this.flp;
    const verifiersShare: bigint[] = [];
    for (let k = 0; k < this.proofs; k++) {
      verifiersShare.push(
        ...this.flp.query(
          measShare,
          proofsShare.slice(k * proofLen, (k + 1) * proofLen),
          queryRands.slice(k * queryRandLen, (k + 1) * queryRandLen),
          jointRands.slice(k * jointRandLen, (k + 1) * jointRandLen),
          this.shares,
        ),
      );
    }
    return { state: { outShare, correctedJointRandSeed }, verifierShare: { verifiersShare, jointRandPart } };
  }

  /** Combines every aggregator's verifier share; throws when a proof does not check out. */
  verifierSharesToMessage(ctx: Uint8Array, verifierShares: readonly Prio3VerifierShare[]): Uint8Array | null {
    if (verifierShares.length !== this.shares) throw new Error('Prio3: need one verifier share per aggregator');
    const len = this.flp.verifierLen;
    let verifiers = this.field.zeros(len * this.proofs);
    const parts: Uint8Array[] = [];
    for (const share of verifierShares) {
      verifiers = vecAdd(this.field, verifiers, share.verifiersShare);
      if (this.usesJointRand) {
        if (!share.jointRandPart) throw new Error('Prio3: missing joint randomness part');
        parts.push(share.jointRandPart);
      }
    }
    for (let k = 0; k < this.proofs; k++) {
      if (!this.flp.decide(verifiers.slice(k * len, (k + 1) * len))) throw new Error('Prio3: proof verifier check failed');
    }
    return this.usesJointRand ? this.jointRandSeed(ctx, parts) : null;
  }

  /** Releases the output share once the joint randomness the client used is confirmed. */
  verifyNext(state: Prio3VerifyState, verifierMessage: Uint8Array | null): bigint[] {
    if (!bytesEqual(verifierMessage, state.correctedJointRandSeed)) throw new Error('Prio3: joint randomness check failed');
    return state.outShare;
  }

  aggInit(): bigint[] {
    return this.field.zeros(this.flp.outputLen);
  }

  /** Adds an output share into an aggregate share in place. */
  aggUpdate(aggShare: bigint[], outShare: readonly bigint[]): bigint[] {
    if (aggShare.length !== outShare.length) throw new Error('Prio3: output share has the wrong length');
    for (let i = 0; i < aggShare.length; i++) aggShare[i] = this.field.add(aggShare[i], outShare[i]);
    return aggShare;
  }

  merge(aggShares: readonly (readonly bigint[])[]): bigint[] {
    const agg = this.aggInit();
    for (const share of aggShares) this.aggUpdate(agg, share);
    return agg;
  }

  unshard(aggShares: readonly (readonly bigint[])[], numMeasurements: number): R {
    return this.flp.decode(this.merge(aggShares), numMeasurements);
  }

  expandInputShare(
    ctx: Uint8Array,
    aggId: number,
    share: Prio3InputShare,
  ): { measShare: bigint[]; proofsShare: bigint[]; blind: Uint8Array | null; measShareEncoding: Uint8Array | null } {
    if (aggId === 0) {
      if (share.kind !== 'leader') throw new Error('Prio3: aggregator 0 needs the leader share');
      return { ...share, measShareEncoding: share.measShareEncoding ?? null };
    }
    if (share.kind !== 'helper') throw new Error('Prio3: helpers need a seed share');
    const { vec, encoding } = this.helperMeasShareWithEncoding(ctx, aggId, share.seed);
    return {
      measShare: vec,
      proofsShare: this.helperProofsShare(ctx, aggId, share.seed),
      blind: share.blind,
      measShareEncoding: encoding,
    };
  }

  helperMeasShare(ctx: Uint8Array, aggId: number, seed: Uint8Array): bigint[] {
    return this.helperMeasShareWithEncoding(ctx, aggId, seed).vec;
  }

  private helperMeasShareWithEncoding(ctx: Uint8Array, aggId: number, seed: Uint8Array): { vec: bigint[]; encoding: Uint8Array | null } {
    const dst = this.domainSeparationTag(USAGE_MEAS_SHARE, ctx);
    return new XofTurboShake128(seed, dst, new Uint8Array([aggId])).nextVecWithEncoding(this.field, this.flp.measLen);
  }

  helperProofsShare(ctx: Uint8Array, aggId: number, seed: Uint8Array): bigint[] {
    const dst = this.domainSeparationTag(USAGE_PROOF_SHARE, ctx);
    const binder = new Uint8Array([this.proofs, aggId]);
    return XofTurboShake128.expandIntoVec(this.field, seed, dst, binder, this.flp.proofLen * this.proofs);
  }

  proveRands(ctx: Uint8Array, seed: Uint8Array): bigint[] {
    const dst = this.domainSeparationTag(USAGE_PROVE_RANDOMNESS, ctx);
    return XofTurboShake128.expandIntoVec(this.field, seed, dst, new Uint8Array([this.proofs]), this.flp.proveRandLen * this.proofs);
  }

  queryRands(verifyKey: Uint8Array, ctx: Uint8Array, nonce: Uint8Array): bigint[] {
    const dst = this.domainSeparationTag(USAGE_QUERY_RANDOMNESS, ctx);
    const binder = concatBytes([new Uint8Array([this.proofs]), nonce]);
    return XofTurboShake128.expandIntoVec(this.field, verifyKey, dst, binder, this.flp.queryRandLen * this.proofs);
  }

  jointRandPart(
    ctx: Uint8Array,
    aggId: number,
    blind: Uint8Array,
    measShare: readonly bigint[],
    nonce: Uint8Array,
    measShareEncoding?: Uint8Array | null,
  ): Uint8Array {
    const dst = this.domainSeparationTag(USAGE_JOINT_RAND_PART, ctx);
    const encoded = measShareEncoding ?? this.field.encodeVec(measShare);
    const binder = concatBytes([new Uint8Array([aggId]), nonce, encoded]);
    return XofTurboShake128.deriveSeed(blind, dst, binder);
  }

  jointRandSeed(ctx: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
    const dst = this.domainSeparationTag(USAGE_JOINT_RAND_SEED, ctx);
    return XofTurboShake128.deriveSeed(new Uint8Array(this.seedSize), dst, concatBytes(parts));
  }

  jointRands(ctx: Uint8Array, seed: Uint8Array): bigint[] {
    const dst = this.domainSeparationTag(USAGE_JOINT_RANDOMNESS, ctx);
    return XofTurboShake128.expandIntoVec(this.field, seed, dst, new Uint8Array([this.proofs]), this.flp.jointRandLen * this.proofs);
  }
}
