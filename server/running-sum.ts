// The open round's running sum of summary integers, kept in the server process when the
// store is exclusive to it (the embedded store). Validation and summation are one pass over
// the request body: the values are added while their squares are summed for the norm
// check; a rejected or failed upload is subtracted again, which is exact because the sum
// holds integers. Memory: one vector of the model's size, whatever the number of clients.
import { endianness } from 'node:os';
import { SimdInt8Sum } from './simd-sum.ts';
import type { QuantizedValues } from './strategies.ts';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * 8-bit summaries: when the values start 4-byte aligned, read them as 32-bit words and
 * split each into its four signed bytes (about twice as fast as byte loads in V8).
 * Returns the word view, or null when the layout does not allow it.
 */
function words(a: QuantizedValues): Int32Array | null {
  return LITTLE_ENDIAN_HOST && a instanceof Int8Array && a.byteOffset % 4 === 0 ? new Int32Array(a.buffer, a.byteOffset, a.length >>> 2) : null;
}

function add32Words(s: Int32Array, a: Int8Array, w: Int32Array): number {
  let q = 0;
  for (let k = 0, i = 0; k < w.length; k++, i += 4) {
    const x = w[k];
    // little-endian: byte 0 is the low byte
    const v0 = (x << 24) >> 24;
    const v1 = (x << 16) >> 24;
    const v2 = (x << 8) >> 24;
    const v3 = x >> 24;
    s[i] = (s[i] + v0) | 0;
    s[i + 1] = (s[i + 1] + v1) | 0;
    s[i + 2] = (s[i + 2] + v2) | 0;
    s[i + 3] = (s[i + 3] + v3) | 0;
    q += v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3;
  }
  for (let i = w.length * 4; i < a.length; i++) {
    const v = a[i];
    s[i] = (s[i] + v) | 0;
    q += v * v;
  }
  return q;
}

function add32(s: Int32Array, a: QuantizedValues): number {
  const w = words(a);
  if (w) return add32Words(s, a as Int8Array, w);
  let q0 = 0;
  let q1 = 0;
  const n = a.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const v = a[i];
    const w = a[i + 1];
    s[i] = (s[i] + v) | 0;
    s[i + 1] = (s[i + 1] + w) | 0;
    q0 += v * v;
    q1 += w * w;
  }
  for (; i < n; i++) {
    const v = a[i];
    s[i] = (s[i] + v) | 0;
    q0 += v * v;
  }
  return q0 + q1;
}

function add64(s: Float64Array, a: QuantizedValues): number {
  let q = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    s[i] += v;
    q += v * v;
  }
  return q;
}

/** Σ q² alone (when no running sum is kept here) */
let scratch: SimdInt8Sum | null = null;

export function sumOfSquares(a: QuantizedValues): number {
  if (a instanceof Int8Array) {
    // the SIMD kernel also adds into its (scratch, never read, wrapping) sum: still far cheaper than the JS loop
    if (scratch?.sum.length !== a.length) scratch = SimdInt8Sum.create(a.length);
    if (scratch) return scratch.add(a);
  }
  const w = words(a);
  if (w) {
    let q = 0;
    for (let k = 0; k < w.length; k++) {
      const x = w[k];
      const v0 = (x << 24) >> 24;
      const v1 = (x << 16) >> 24;
      const v2 = (x << 8) >> 24;
      const v3 = x >> 24;
      q += v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3;
    }
    for (let i = w.length * 4; i < a.length; i++) q += a[i] * a[i];
    return q;
  }
  let q0 = 0;
  let q1 = 0;
  const n = a.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const v = a[i];
    const w = a[i + 1];
    q0 += v * v;
    q1 += w * w;
  }
  if (i < n) q0 += a[i] * a[i];
  return q0 + q1;
}

export class RunningSum {
  /** Σ of the accepted summaries' integers; Int32 when it cannot overflow */
  readonly sum: Int32Array | Float64Array;
  count = 0;
  withinClip = 0;
  private pending = 0;
  private waiters: (() => void)[] = [];
  /** 8-bit summaries: the sum lives in WebAssembly memory and the pass runs in SIMD */
  private readonly simd: SimdInt8Sum | null;

  /** `useSimd` false: the JS loops only (tests compare the two) */
  constructor(readonly roundId: number, readonly scale: number, length: number, maxParticipants: number, bits: number, useSimd = true) {
    const int32 = maxParticipants * 2 ** (bits - 1) < 2 ** 31;
    this.simd = useSimd && int32 && bits === 8 ? SimdInt8Sum.create(length) : null;
    this.sum = this.simd?.sum ?? (int32 ? new Int32Array(length) : new Float64Array(length));
  }

  /** Adds the values tentatively and returns Σ q²; follow with commit() or undo(). */
  add(ints: QuantizedValues): number {
    if (ints.length !== this.sum.length) throw new Error(`summary has ${ints.length} values, running sum ${this.sum.length}`);
    this.pending++;
    if (this.simd && ints instanceof Int8Array) return this.simd.add(ints);
    return this.sum instanceof Int32Array ? add32(this.sum, ints) : add64(this.sum, ints);
  }

  commit(withinClip: boolean): void {
    this.count++;
    if (withinClip) this.withinClip++;
    this.settle();
  }

  undo(ints: QuantizedValues): void {
    const s = this.sum;
    if (s instanceof Int32Array) for (let i = 0; i < s.length; i++) s[i] = (s[i] - ints[i]) | 0;
    else for (let i = 0; i < s.length; i++) s[i] -= ints[i];
    this.settle();
  }

  private settle(): void {
    if (--this.pending === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** resolves when no upload is between add() and commit()/undo() */
  drained(): Promise<void> {
    return this.pending ? new Promise((r) => this.waiters.push(r)) : Promise.resolve();
  }
}
