import { describe, expect, it } from 'vitest';
import { Field64, Field128 } from '../../federated/vdaf/field.ts';
import { doubleEvaluations, extendValuesToPowerOf2, invNtt, ntt, polyEvalBatched, polyEvalMonomial } from '../../federated/vdaf/poly.ts';
import { XofTurboShake128, formatDst } from '../../federated/vdaf/xof.ts';
import { hex, loadVector, toHex } from './vdaf-vectors.ts';

interface XofVector {
  seed: string;
  dst: string;
  binder: string;
  derived_seed: string;
  expanded_vec_field128: string;
  length: number;
}

function randomElements(f: typeof Field64, n: number, seed: number): bigint[] {
  // A deterministic LCG keeps these tests reproducible; the values need not be uniform.
  let s = BigInt(seed);
  return Array.from({ length: n }, () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & ((1n << 128n) - 1n);
    return s % f.modulus;
  });
}

describe('XofTurboShake128 conformance vector', () => {
  const v = loadVector<XofVector>('XofTurboShake128.json');

  it('derives the seed and expands the Field128 vector byte for byte', () => {
    const seed = hex(v.seed);
    expect(toHex(XofTurboShake128.deriveSeed(seed, hex(v.dst), hex(v.binder)))).toBe(v.derived_seed);
    const vec = XofTurboShake128.expandIntoVec(Field128, seed, hex(v.dst), hex(v.binder), v.length);
    expect(vec).toHaveLength(v.length);
    expect(toHex(Field128.encodeVec(vec))).toBe(v.expanded_vec_field128);
  });

  it('streams: two reads equal one read of the combined length', () => {
    const a = new XofTurboShake128(hex(v.seed), hex(v.dst), hex(v.binder));
    const b = new XofTurboShake128(hex(v.seed), hex(v.dst), hex(v.binder));
    expect(toHex(new Uint8Array([...a.next(7), ...a.next(50)]))).toBe(toHex(b.next(57)));
  });

  it('formats the domain separation tag with VERSION 18, class, id and usage big-endian', () => {
    expect(toHex(formatDst(0, 0x01020304, 0x0506))).toBe('12000102030405' + '06');
  });

  it('rejects an over-long seed', () => {
    expect(() => new XofTurboShake128(new Uint8Array(256), new Uint8Array(0), new Uint8Array(0))).toThrow(/seed/);
  });
});

describe('fields', () => {
  for (const f of [Field64, Field128]) {
    it(`${f.name}: generator has order exactly GEN_ORDER`, () => {
      expect(f.pow(f.generator, f.genOrder)).toBe(1n);
      expect(f.pow(f.generator, f.genOrder / 2n)).toBe(f.modulus - 1n);
    });

    it(`${f.name}: arithmetic identities`, () => {
      const [a, b, c] = randomElements(f, 3, 7);
      expect(f.mul(a, f.inv(a))).toBe(1n);
      expect(f.add(a, f.neg(a))).toBe(0n);
      expect(f.sub(a, b)).toBe(f.add(a, f.neg(b)));
      expect(f.mul(a, f.add(b, c))).toBe(f.add(f.mul(a, b), f.mul(a, c)));
      expect(f.of(-1)).toBe(f.modulus - 1n);
      expect(f.batchInv([a, b, c])).toEqual([f.inv(a), f.inv(b), f.inv(c)]);
    });

    it(`${f.name}: encodes little-endian and rejects out-of-range or ragged encodings`, () => {
      const enc = f.encodeVec([1n, f.modulus - 1n]);
      expect(enc.length).toBe(2 * f.encodedSize);
      expect(enc[0]).toBe(1);
      expect(f.decodeVec(enc)).toEqual([1n, f.modulus - 1n]);
      const overflow = f.encodeVec([f.modulus - 1n]);
      overflow[0] += 1; // the modulus itself
      expect(() => f.decodeVec(overflow)).toThrow(/overflows/);
      expect(() => f.decodeVec(new Uint8Array(f.encodedSize + 1))).toThrow(/multiple/);
    });

    it(`${f.name}: NTT round trip, coset doubling and Lagrange evaluation agree with the monomial form`, () => {
      const n = 16;
      const coeffs = randomElements(f, n, 3);
      const values = ntt(f, coeffs, n);
      expect(invNtt(f, values, n)).toEqual(coeffs);
      const w = f.nthRoot(n);
      expect(values[3]).toBe(polyEvalMonomial(f, coeffs, f.pow(w, 3n)));
      const doubled = doubleEvaluations(f, values);
      const w2 = f.nthRoot(2 * n);
      expect(doubled[5]).toBe(polyEvalMonomial(f, coeffs, f.pow(w2, 5n)));
      const x = 123456789n;
      expect(polyEvalBatched(f, [values], x)).toEqual([polyEvalMonomial(f, coeffs, x)]);
    });

    it(`${f.name}: extends values of a low-degree polynomial to the next power of two`, () => {
      for (const m of [15, 9]) {
        const coeffs = randomElements(f, m, m);
        const full = ntt(f, coeffs, 16);
        expect(extendValuesToPowerOf2(f, full.slice(0, m), 16)).toEqual(full);
      }
    });
  }
});
