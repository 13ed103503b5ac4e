// Which errors mean the worker ran out of memory (they stop model work for good), and which
// do not (a bug, a storage quota, a lost GPU: handled elsewhere, and never mistaken for memory).
import { describe, expect, it } from 'vitest';
import { MemoryWatch, injectedAllocation, isOutOfMemory } from '../../workers/memory.ts';

function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('isOutOfMemory', () => {
  it('knows the engine’s own allocation failures', () => {
    expect(isOutOfMemory(thrown(() => new ArrayBuffer(2 ** 45)))).toBe(true); // RangeError: Array buffer allocation failed
    expect(isOutOfMemory(thrown(() => new WebAssembly.Memory({ initial: 1, maximum: 2 }).grow(5)))).toBe(true); // Maximum memory size exceeded
    expect(isOutOfMemory(new RangeError('WebAssembly.Memory(): could not allocate memory'))).toBe(true);
  });

  it('knows what TensorFlow.js backends and the Emscripten runtime report', () => {
    for (const message of [
      'Failed to allocate buffer of size 268435456', // tfjs-backend-webgpu
      'WebGL Error: OUT_OF_MEMORY', // tfjs-backend-webgl from gl.getError()
      'Aborted(OOM). Build with -sASSERTIONS for more info.', // Emscripten (tfjs-backend-wasm)
      'Cannot enlarge memory, requested 2147483648 bytes, but the limit is 2147418112 bytes!',
      'Out of memory',
    ]) {
      expect(isOutOfMemory(new Error(message)), message).toBe(true);
    }
    const gpu = Object.assign(new Error('buffer too large'), { name: 'GPUOutOfMemoryError' });
    expect(isOutOfMemory(gpu)).toBe(true);
    expect(isOutOfMemory('RangeError: Array buffer allocation failed')).toBe(true); // an ErrorEvent's message
  });

  it('looks through causes and ErrorEvent-like wrappers', () => {
    expect(isOutOfMemory(new Error('training failed', { cause: new RangeError('Array buffer allocation failed') }))).toBe(true);
    expect(isOutOfMemory({ message: 'Uncaught', error: new Error('WebGL Error: OUT_OF_MEMORY') })).toBe(true);
  });

  it('does not mistake other failures for memory', () => {
    expect(isOutOfMemory(thrown(() => new ArrayBuffer(-1)))).toBe(false); // invalid length: a bug
    const deep = (n: number): number => deep(n + 1) + 1;
    expect(isOutOfMemory(thrown(() => deep(0)))).toBe(false); // stack overflow is a RangeError too
    expect(isOutOfMemory(Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' }))).toBe(false);
    expect(isOutOfMemory(new Error('training produced NaN'))).toBe(false);
    expect(isOutOfMemory(new Error('WebGL Error: CONTEXT_LOST_WEBGL'))).toBe(false);
    expect(isOutOfMemory(new Error('GPU device was lost'))).toBe(false);
    for (const v of [null, undefined, 42, {}, 'ok']) expect(isOutOfMemory(v)).toBe(false);
  });
});

describe('MemoryWatch', () => {
  it('degrades on the first out-of-memory error, keeps its message, and ignores other errors', () => {
    const watch = new MemoryWatch();
    expect(watch.state).toEqual({ state: 'ok', training: 'on', recommendations: 'model', stage: null, message: null });
    expect(watch.check('scoring', new Error('training produced NaN'))).toBe(false);
    expect(watch.outOfMemory).toBe(false);
    expect(watch.check('training', new RangeError('Array buffer allocation failed'))).toBe(true);
    expect(watch.state).toMatchObject({ state: 'out-of-memory', training: 'stopped', recommendations: 'popularity', stage: 'training' });
    expect(watch.state.message).toMatch(/out of memory while training the personal model \(Array buffer allocation failed\)/);
    expect(watch.check('scoring', new Error('Out of memory'))).toBe(true);
    expect(watch.state.stage).toBe('training'); // the first cause is the one reported
  });
});

describe('injectedAllocation', () => {
  it('throws the engine’s real error only for the stages a test listed, and counts them', () => {
    const g = globalThis as { siloInjectOutOfMemory?: { stages: string[]; hits?: number } };
    expect(() => injectedAllocation('training')).not.toThrow();
    g.siloInjectOutOfMemory = { stages: ['training'] };
    try {
      expect(() => injectedAllocation('scoring')).not.toThrow();
      const err = thrown(() => injectedAllocation('training'));
      expect(err).toBeInstanceOf(RangeError);
      expect(isOutOfMemory(err)).toBe(true);
      expect(g.siloInjectOutOfMemory.hits).toBe(1);
    } finally {
      delete g.siloInjectOutOfMemory;
    }
  });
});
