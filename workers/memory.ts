// Running out of memory in the worker: which errors mean it, and what the worker does then.
// A device that could not allocate for one step will not find the memory on the next one, so
// an out-of-memory error stops model work for the life of this worker (no retry loop), serves
// recommendations from the popularity prior instead, and leaves IndexedDB as it was: the
// events are stored already, and a model that failed half-way through a step is never saved.
import type { MemoryStage, MemoryState } from './api-types.ts';

export type { MemoryStage, MemoryState } from './api-types.ts';

/**
 * Messages of the allocation failures a browser or TensorFlow.js reports, as thrown by:
 * V8 (typed arrays, ArrayBuffers), WebAssembly memories (the WASM backend's heap), the
 * Emscripten runtime when its heap cannot grow, TensorFlow.js backends (WebGL textures,
 * WebGPU buffers), WebGL's OUT_OF_MEMORY error code and WebGPU's out-of-memory error scope.
 */
const OUT_OF_MEMORY_MESSAGES: readonly RegExp[] = [
  /array buffer allocation failed/i,
  /WebAssembly\.Memory(\.grow)?\(\): (could not allocate memory|maximum memory size exceeded|unable to grow)/i,
  /cannot enlarge memory/i,
  /\bAborted\(OOM\)|\babort\(OOM\)/,
  /\bfailed to allocate\b/i,
  /\bout[ _-]of[ _-]memory\b/i,
  /\ballocation failed\b/i,
];

/** Error names that mean out of memory whatever the message says. */
const OUT_OF_MEMORY_NAMES: ReadonlySet<string> = new Set(['GPUOutOfMemoryError']);

/**
 * Whether an error (or its cause, or an ErrorEvent's error) says the worker ran out of
 * memory. Storage quota errors are not memory: they have their own state (StorageState).
 */
export function isOutOfMemory(err: unknown, depth = 0): boolean {
  if (err === null || err === undefined || depth > 4) return false;
  if (typeof err === 'string') return OUT_OF_MEMORY_MESSAGES.some((re) => re.test(err));
  if (typeof err !== 'object') return false;
  const e = err as { name?: unknown; message?: unknown; cause?: unknown; error?: unknown; constructor?: { name?: string } };
  const name = typeof e.name === 'string' ? e.name : '';
  if (name === 'QuotaExceededError') return false;
  if (OUT_OF_MEMORY_NAMES.has(name) || OUT_OF_MEMORY_NAMES.has(e.constructor?.name ?? '')) return true;
  if (typeof e.message === 'string' && OUT_OF_MEMORY_MESSAGES.some((re) => re.test(e.message as string))) return true;
  return isOutOfMemory(e.cause, depth + 1) || isOutOfMemory(e.error, depth + 1);
}

const DOING: Record<MemoryStage, string> = {
  training: 'training the personal model',
  scoring: 'scoring recommendations',
  loading: 'loading the saved model',
  building: 'building the model',
};

const OK: MemoryState = { state: 'ok', training: 'on', recommendations: 'model', stage: null, message: null };

/** The worker's memory state: ok until model work first runs out of memory, then degraded for good. */
export class MemoryWatch {
  private current: MemoryState = OK;

  get state(): MemoryState {
    return this.current;
  }

  /** true once out of memory: no more training, recommendations from the popularity prior */
  get outOfMemory(): boolean {
    return this.current.state === 'out-of-memory';
  }

  /**
   * Notes an error from model work. Returns true (and degrades) when it was out of memory;
   * the first such error is the one reported.
   */
  check(stage: MemoryStage, err: unknown): boolean {
    if (!isOutOfMemory(err)) return false;
    if (this.outOfMemory) return true;
    const reason = err instanceof Error ? err.message : String(err);
    this.current = {
      state: 'out-of-memory',
      training: 'stopped',
      recommendations: 'popularity',
      stage,
      message: `out of memory while ${DOING[stage]} (${reason}): training stopped and recommendations come from what is popular; stored events and the saved model are kept, and the next page load tries again`,
    };
    return true;
  }
}

/**
 * Fault injection for the browser tests: a stage listed in the worker global
 * `siloInjectOutOfMemory` makes a real allocation too large to succeed, so the engine throws
 * its own out-of-memory error where that stage starts. Only code running inside this worker
 * (a test through DevTools) can set it; a storefront's page cannot reach the worker's global.
 */
export function injectedAllocation(stage: MemoryStage): void {
  const injected = (globalThis as { siloInjectOutOfMemory?: { stages: string[]; hits?: number; held?: ArrayBuffer } }).siloInjectOutOfMemory;
  if (!injected?.stages.includes(stage)) return;
  injected.hits = (injected.hits ?? 0) + 1;
  // more than any device holds, within the engine's largest valid length (Chromium's is just
  // under 32 GiB, Node's far above): V8 throws RangeError "Array buffer allocation failed".
  // Kept in a property so no bundler drops the allocation as unused.
  for (const size of [2 ** 45, 2 ** 35 - 1]) {
    try {
      injected.held = new ArrayBuffer(size);
    } catch (err) {
      if (isOutOfMemory(err)) throw err;
    }
    injected.held = undefined; // reserved lazily (or not valid here): try the next size
  }
  throw new RangeError('Array buffer allocation failed');
}
