// The upload gate: an upload's bytes are parsed against the round it is for and its values
// checked before anything is stored. Model rounds: the decoded L2 norm is at most the round's
// bound. Popularity rounds: every value is 0 or 1, and at most maxItems are 1.
import { HEADER_BYTES, SummaryFormatError } from '../../federated/summary.ts';
import { HttpError } from '../http/respond.ts';
import type { OpenRound } from '../store.ts';
import { quantizedView } from '../summary-view.ts';
import type { QuantizedValues } from '../strategies/types.ts';
import { clampUpload } from './clamp.ts';

export type ParsedUpload = ReturnType<typeof quantizedView>;

/** Parses the summary header and checks it against the round; throws HttpError 400/409. */
export function parseUpload(body: Uint8Array, round: OpenRound): ParsedUpload {
  let s: ParsedUpload;
  try {
    s = quantizedView(body);
  } catch (e) {
    if (e instanceof SummaryFormatError) throw new HttpError(400, e.message);
    throw e;
  }
  const t = round.task;
  if (s.roundId !== round.id) throw new HttpError(400, `summary is for round ${s.roundId}, uploaded to round ${round.id}`);
  if (s.modelVersion !== t.modelVersion) throw new HttpError(409, `summary is relative to model v${s.modelVersion}, round uses v${t.modelVersion}`);
  if (s.length !== t.length) throw new HttpError(400, `summary has ${s.length} values, round expects ${t.length}`);
  if (s.bits !== t.bits) throw new HttpError(400, `summary uses ${s.bits}-bit values, round expects ${t.bits}`);
  if (Math.fround(t.scale) !== s.scale) throw new HttpError(400, `summary scale ${s.scale} differs from the round's ${t.scale}`);
  return s;
}

/** Throws 422 when the decoded L2 norm √(Σq²)/scale (exact in the integer domain) is above the round's bound. */
export function checkNorm(sumOfSquares: number, scale: number, round: OpenRound): void {
  const norm = Math.sqrt(sumOfSquares) / scale;
  if (!Number.isFinite(norm)) throw new HttpError(400, 'summary contains non-finite values');
  if (norm > round.normBound) throw new HttpError(422, `update norm ${norm.toFixed(4)} exceeds the round's bound ${round.normBound.toFixed(4)}`);
}

/**
 * Popularity indicators: each value 0 or 1 and at most `maxItems` ones (422 otherwise). The
 * norm check alone would let +4 in one bucket and −2 in another through.
 */
export function checkIndicator(ints: QuantizedValues, maxItems: number): void {
  let ones = 0;
  for (let i = 0; i < ints.length; i++) {
    const v = ints[i];
    if (v === 0) continue;
    if (v !== 1) throw new HttpError(422, `popularity value ${v} in bucket ${i}: each must be 0 or 1`);
    ones++;
  }
  if (ones > maxItems) throw new HttpError(422, `popularity upload marks ${ones} buckets, at most ${maxItems} allowed`);
}

/** The value checks of the round's kind, for an upload whose header passed parseUpload. */
export function checkValues(s: ParsedUpload, round: OpenRound, sumOfSquares: number): void {
  if (round.task.kind === 'popularity') checkIndicator(s.ints, round.task.maxItems ?? 0);
  checkNorm(sumOfSquares, s.scale, round);
}

/** For uploads read back from a store: true if they still pass the checks; false (logged) leaves one out. */
export function storedUploadCheck(round: OpenRound, s: ParsedUpload, sumOfSquares: number): boolean {
  try {
    checkValues(s, round, sumOfSquares);
    return true;
  } catch (e) {
    console.error(`aggregator: a stored upload of round ${round.id} fails its check and is left out: ${(e as Error).message}`);
    return false;
  }
}

/**
 * The checks, then the server's clamp to C (clamp.ts): values above C are scaled down in
 * place, in the body the store keeps too, and in `sum` where they were added already.
 * Returns Σ q² after the clamp.
 */
export function checkAndClamp(s: ParsedUpload, body: Uint8Array, round: OpenRound, sumOfSquares: number, sum?: Int32Array | Float64Array): number {
  checkValues(s, round, sumOfSquares);
  const after = clampUpload(round, s.ints, sumOfSquares, sum);
  if (after !== sumOfSquares && s.ints.buffer !== body.buffer) {
    // the values were a copy (unaligned wide values): write the clamped ones into the body, little-endian
    const view = new DataView(body.buffer, body.byteOffset + HEADER_BYTES);
    for (let i = 0; i < s.ints.length; i++) {
      if (s.bits === 16) view.setInt16(2 * i, s.ints[i], true);
      else view.setInt32(4 * i, s.ints[i], true);
    }
  }
  return after;
}
