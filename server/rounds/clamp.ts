// The server holds every model-round upload to the clip bound C itself. A client clips to C
// before its 8-bit stochastic rounding, so the server must accept decoded norms up to the
// rounding bound B (normBound, several times C at small scales); a client that skips the clip
// could then move the average B/C times further than the DP accountant and the robustness
// argument assume. So an upload whose decoded norm is above C is scaled down to C: the factor
// is computed in float64 and the scaled values are rounded to the round's integer grid, so
// every sum stays an exact integer sum (a refused upload is subtracted again exactly); the
// rounding keeps the stored norm at most C and within one grid step of it.
// Honest clients round within C themselves (quantizeWithinClip), so this costs the server only
// for uploads that skipped it.
// Not for rounds whose clients add their own noise (distributed DP): their decoded norm is
// mostly that noise, which the server must not shrink; such rounds keep sensitivity B.
import type { OpenRound } from '../store.ts';
import type { QuantizedValues } from '../strategies/types.ts';

/** C in integer units (squared) that the server holds this round's uploads to, or null when it does not clamp. */
export function clampLimitSq(round: OpenRound): number | null {
  if (round.task.kind === 'popularity' || round.settings.clientNoiseStd > 0) return null;
  const limit = round.settings.clipNorm * Math.fround(round.task.scale);
  return limit * limit;
}

/** The L2 sensitivity a round's release has: C where the server clamps, else the bound it enforces. */
export function roundSensitivity(round: OpenRound): number {
  return clampLimitSq(round) === null ? round.normBound : round.settings.clipNorm;
}

/** adds v − x to sum[i] (the sum held x already) */
function moveSum(sum: Int32Array | Float64Array, i: number, x: number, v: number): void {
  if (sum instanceof Int32Array) sum[i] = (sum[i] + v - x) | 0;
  else sum[i] += v - x;
}

/**
 * 8- and 16-bit values: |q| takes at most 2^15 + 1 values, so the scaled floor, its fraction
 * and the cost of rounding up are per magnitude, and two passes over the values suffice (a
 * count per magnitude, then the write). Returns Σq² afterwards.
 */
function clampByMagnitude(ints: Int8Array | Int16Array, f: number, limitSq: number, sum?: Int32Array | Float64Array): number {
  const size = ints instanceof Int8Array ? 129 : 32769;
  const count = new Int32Array(size);
  for (let i = 0; i < ints.length; i++) {
    const x = ints[i];
    count[x < 0 ? -x : x]++;
  }
  const floor = new Int32Array(size);
  const frac = new Float64Array(size);
  let q = 0;
  const present: number[] = [];
  for (let m = 1; m < size; m++) {
    if (!count[m]) continue;
    floor[m] = Math.floor(m * f);
    frac[m] = m * f - floor[m];
    q += count[m] * floor[m] * floor[m];
    if (frac[m] > 0) present.push(m);
  }
  // round up the largest fractions first, as many of each magnitude as the limit allows (the first ones in index order)
  present.sort((x, y) => frac[y] - frac[x]);
  const up = new Int32Array(size);
  for (const m of present) {
    const cost = 2 * floor[m] + 1;
    up[m] = Math.min(count[m], Math.floor((limitSq - q) / cost));
    q += up[m] * cost;
  }
  // the new value of each magnitude, signed: rounded up while its quota lasts, then down
  const table = new Int32Array(2 * size - 1);
  const at = size - 1; // table[at + x] is x's new value
  const fill = (m: number) => {
    const v = up[m] > 0 ? floor[m] + 1 : floor[m];
    table[at + m] = v;
    table[at - m] = -v;
  };
  for (let m = 0; m < size; m++) fill(m);
  const int32 = sum instanceof Int32Array ? sum : null;
  for (let i = 0; i < ints.length; i++) {
    const x = ints[i];
    const v = table[at + x];
    const m = x < 0 ? -x : x;
    if (up[m] > 0 && --up[m] === 0) fill(m);
    if (int32) int32[i] = (int32[i] + v - x) | 0;
    else if (sum) sum[i] += v - x;
    ints[i] = v;
  }
  return q;
}

const BINS = 1024;
const binOf = (r: number) => Math.min(BINS - 1, Math.floor(r * BINS));

/**
 * If Σq² is above `limitSq`, scales `ints` in place so that Σq² ≤ limitSq, as close below it
 * as the integer grid allows, and, when `sum` holds them already, moves it by the same
 * change. Returns Σq² afterwards. Each |q|·f is rounded down, then up where its fraction is
 * among the largest while the total stays within the limit (32-bit values: a histogram of the
 * fractions finds the threshold in two passes; sorting would cost L log L per upload).
 */
export function clampInPlace(ints: QuantizedValues, sumOfSquares: number, limitSq: number, sum?: Int32Array | Float64Array): number {
  if (!(sumOfSquares > limitSq)) return sumOfSquares;
  const f = Math.sqrt(limitSq / sumOfSquares);
  if (!(ints instanceof Int32Array)) return clampByMagnitude(ints, f, limitSq, sum);
  const cost = new Float64Array(BINS); // what rounding up every coordinate of a bin adds to Σq²
  let q = 0;
  for (let i = 0; i < ints.length; i++) {
    const y = Math.abs(ints[i]) * f;
    const a = Math.floor(y);
    q += a * a;
    if (y > a) cost[binOf(y - a)] += 2 * a + 1;
  }
  let bin = BINS - 1;
  for (; bin >= 0 && q + cost[bin] <= limitSq; bin--) q += cost[bin];
  for (let i = 0; i < ints.length; i++) {
    const x = ints[i];
    const y = Math.abs(x) * f;
    const a = Math.floor(y);
    let up = false;
    if (y > a) {
      const b = binOf(y - a);
      // the threshold's own bin: in index order, as long as it fits
      if (b > bin) up = true;
      else if (b === bin && q + 2 * a + 1 <= limitSq) {
        q += 2 * a + 1;
        up = true;
      }
    }
    const v = (x < 0 ? -1 : 1) * (up ? a + 1 : a);
    if (sum) moveSum(sum, i, x, v);
    ints[i] = v;
  }
  return q;
}

/** Clamps an upload of `round` (no-op where the server does not clamp); returns Σq² afterwards. */
export function clampUpload(round: OpenRound, ints: QuantizedValues, sumOfSquares: number, sum?: Int32Array | Float64Array): number {
  const limitSq = clampLimitSq(round);
  return limitSq === null ? sumOfSquares : clampInPlace(ints, sumOfSquares, limitSq, sum);
}
