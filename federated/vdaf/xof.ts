/**
 * XofTurboShake128 of the VDAF draft: TurboSHAKE128 (RFC 9861, domain byte 1) over
 * len(dst) as 2 bytes LE || dst || len(seed) as 1 byte || seed || binder, squeezed as a stream.
 */
import { turboshake128 } from '@noble/hashes/sha3-addons.js';
import type { Field } from './field.ts';

/** The draft version this implementation follows; it is bound into every domain separation tag. */
export const VDAF_VERSION = 18;

type Sponge = ReturnType<typeof turboshake128.create>;

export class XofTurboShake128 {
  static readonly SEED_SIZE = 32;
  private readonly sponge: Sponge;

  constructor(seed: Uint8Array, dst: Uint8Array, binder: Uint8Array) {
    if (seed.length > 255) throw new Error('XofTurboShake128: seed longer than 255 bytes');
    if (dst.length > 65535) throw new Error('XofTurboShake128: dst longer than 65535 bytes');
    this.sponge = turboshake128.create({ D: 1 });
    this.sponge.update(new Uint8Array([dst.length & 0xff, dst.length >> 8]));
    this.sponge.update(dst);
    this.sponge.update(new Uint8Array([seed.length]));
    this.sponge.update(seed);
    this.sponge.update(binder);
  }

  /** The next `length` bytes of the output stream. */
  next(length: number): Uint8Array {
    return this.sponge.xof(length);
  }

  /** The next `length` field elements, by rejection sampling of ENCODED_SIZE-byte chunks. */
  nextVec(field: Field, length: number): bigint[] {
    return this.nextVecWithEncoding(field, length).vec;
  }

  /**
   * Like nextVec, and when no chunk was rejected (all but certain: both moduli lie within
   * 2^-60 of a power of 2^64) also the bytes read, which are then exactly encodeVec(vec).
   */
  nextVecWithEncoding(field: Field, length: number): { vec: bigint[]; encoding: Uint8Array | null } {
    const size = field.encodedSize;
    // Both fields' moduli lie just below a power of 2**64, so the draft's mask keeps every bit.
    const vec: bigint[] = [];
    let encoding: Uint8Array | null = null;
    while (vec.length < length) {
      const chunk = this.next((length - vec.length) * size);
      const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const before = vec.length;
      for (let off = 0; off < chunk.length; off += size) {
        const x = field.readElement(view, off);
        if (x < field.modulus) vec.push(x);
      }
      if (before === 0 && vec.length === length) encoding = chunk;
    }
    return { vec, encoding };
  }

  static deriveSeed(seed: Uint8Array, dst: Uint8Array, binder: Uint8Array): Uint8Array {
    return new XofTurboShake128(seed, dst, binder).next(XofTurboShake128.SEED_SIZE);
  }

  static expandIntoVec(field: Field, seed: Uint8Array, dst: Uint8Array, binder: Uint8Array, length: number): bigint[] {
    return new XofTurboShake128(seed, dst, binder).nextVec(field, length);
  }
}

/** VERSION (1 byte) || algorithm class (1) || algorithm id (4, BE) || usage (2, BE). */
export function formatDst(algoClass: number, algo: number, usage: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  out[0] = VDAF_VERSION;
  out[1] = algoClass;
  view.setUint32(2, algo >>> 0, false);
  view.setUint16(6, usage, false);
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
