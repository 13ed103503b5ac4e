import { describe, expect, it } from 'vitest';
import { encodeWeights, decodeWeights, toFloat16, fromFloat16 } from '../../models/weights.ts';

const names = ['emb', 'bias'];
const shapes = [[3, 2], [3]];
const weights = [Float32Array.from([0.5, -1.25, 3.1, 0, -0.001, 2]), Float32Array.from([1e-3, -7, 100])];

describe('compact weights', () => {
  it('round-trips float32 exactly, with config, names and shapes', () => {
    const buf = encodeWeights({ dim: 2 }, names, shapes, weights, 'float32');
    const out = decodeWeights<{ dim: number }>(buf);
    expect(out.config).toEqual({ dim: 2 });
    expect(out.names).toEqual(names);
    expect(out.shapes).toEqual(shapes);
    expect(out.weights).toEqual(weights);
  });

  it('float16 keeps ~3 significant digits at half the size', () => {
    const f32 = encodeWeights({}, names, shapes, weights, 'float32');
    const buf = encodeWeights({}, names, shapes, weights, 'float16');
    expect(buf.byteLength).toBeLessThan(f32.byteLength);
    const out = decodeWeights(buf);
    out.weights.forEach((w, i) => w.forEach((v, j) => expect(Math.abs(v - weights[i][j])).toBeLessThanOrEqual(Math.abs(weights[i][j]) * 1e-3 + 1e-7)));
  });

  it('int8 errs by at most half a step of its per-tensor scale', () => {
    const out = decodeWeights(encodeWeights({}, names, shapes, weights, 'int8'));
    weights.forEach((w, i) => {
      const step = Math.max(...w.map(Math.abs)) / 127;
      w.forEach((v, j) => expect(Math.abs(out.weights[i][j] - v)).toBeLessThanOrEqual(step / 2 + 1e-6));
    });
  });

  it('converts float16 edge cases', () => {
    for (const v of [0, 1, -2, 65504, 2 ** -24, 0.333251953125]) expect(fromFloat16(toFloat16(v))).toBe(v);
    expect(fromFloat16(toFloat16(1e6))).toBe(Infinity);
  });

  it('rejects a buffer that is not ours', () => {
    expect(() => decodeWeights(new ArrayBuffer(16))).toThrow(/not a Silo weights buffer/);
  });
});
