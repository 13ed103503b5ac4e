/**
 * Wire encodings of Prio3 messages (the draft's Message Serialization section). Decoders
 * check every length and reject field elements that are not below the modulus.
 */
import type { Prio3, Prio3InputShare, Prio3PublicShare, Prio3VerifierShare } from './prio3.ts';
import { concatBytes } from './xof.ts';

type AnyPrio3 = Prio3<unknown, unknown>;

function split(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

export function encodePublicShare(_vdaf: AnyPrio3, share: Prio3PublicShare): Uint8Array {
  return share ? concatBytes(share) : new Uint8Array(0);
}

export function decodePublicShare(vdaf: AnyPrio3, bytes: Uint8Array): Prio3PublicShare {
  if (!vdaf.usesJointRand) {
    if (bytes.length !== 0) throw new Error('Prio3: public share must be empty');
    return null;
  }
  if (bytes.length !== vdaf.seedSize * vdaf.shares) throw new Error('Prio3: public share has the wrong length');
  return split(bytes, vdaf.seedSize);
}

export function encodeInputShare(vdaf: AnyPrio3, share: Prio3InputShare): Uint8Array {
  const blind = share.blind ?? new Uint8Array(0);
  if (share.kind === 'leader') {
    return concatBytes([vdaf.field.encodeVec(share.measShare), vdaf.field.encodeVec(share.proofsShare), blind]);
  }
  return concatBytes([share.seed, blind]);
}

export function decodeInputShare(vdaf: AnyPrio3, aggId: number, bytes: Uint8Array): Prio3InputShare {
  const seed = vdaf.seedSize;
  const blindLen = vdaf.usesJointRand ? seed : 0;
  if (aggId === 0) {
    const size = vdaf.field.encodedSize;
    const measBytes = vdaf.flp.measLen * size;
    const proofBytes = vdaf.flp.proofLen * vdaf.proofs * size;
    if (bytes.length !== measBytes + proofBytes + blindLen) throw new Error('Prio3: leader input share has the wrong length');
    return {
      kind: 'leader',
      measShare: vdaf.field.decodeVec(bytes.subarray(0, measBytes)),
      measShareEncoding: bytes.slice(0, measBytes),
      proofsShare: vdaf.field.decodeVec(bytes.subarray(measBytes, measBytes + proofBytes)),
      blind: blindLen ? bytes.slice(measBytes + proofBytes) : null,
    };
  }
  if (bytes.length !== seed + blindLen) throw new Error('Prio3: helper input share has the wrong length');
  return { kind: 'helper', seed: bytes.slice(0, seed), blind: blindLen ? bytes.slice(seed) : null };
}

export function encodeVerifierShare(vdaf: AnyPrio3, share: Prio3VerifierShare): Uint8Array {
  return concatBytes([vdaf.field.encodeVec(share.verifiersShare), share.jointRandPart ?? new Uint8Array(0)]);
}

export function decodeVerifierShare(vdaf: AnyPrio3, bytes: Uint8Array): Prio3VerifierShare {
  const vBytes = vdaf.flp.verifierLen * vdaf.proofs * vdaf.field.encodedSize;
  const partLen = vdaf.usesJointRand ? vdaf.seedSize : 0;
  if (bytes.length !== vBytes + partLen) throw new Error('Prio3: verifier share has the wrong length');
  return {
    verifiersShare: vdaf.field.decodeVec(bytes.subarray(0, vBytes)),
    jointRandPart: partLen ? bytes.slice(vBytes) : null,
  };
}

export function encodeVerifierMessage(_vdaf: AnyPrio3, message: Uint8Array | null): Uint8Array {
  return message ?? new Uint8Array(0);
}

export function decodeVerifierMessage(vdaf: AnyPrio3, bytes: Uint8Array): Uint8Array | null {
  const len = vdaf.usesJointRand ? vdaf.seedSize : 0;
  if (bytes.length !== len) throw new Error('Prio3: verifier message has the wrong length');
  return len ? bytes.slice() : null;
}

export function encodeAggShare(vdaf: AnyPrio3, share: readonly bigint[]): Uint8Array {
  return vdaf.field.encodeVec(share);
}

export function decodeAggShare(vdaf: AnyPrio3, bytes: Uint8Array): bigint[] {
  const share = vdaf.field.decodeVec(bytes);
  if (share.length !== vdaf.flp.outputLen) throw new Error('Prio3: aggregate share has the wrong length');
  return share;
}
