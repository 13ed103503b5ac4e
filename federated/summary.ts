// A client's update summary: what one shopper's device sends for one federated round.
//
//   delta = locally trained weights − the round's global weights   (flattened, wire order)
//   clip   delta to L2 norm ≤ C                                      (bounds one user's influence)
//   noise  optionally add N(0, (σ·C)²/n) per coordinate             (distributed DP: n clients'
//          noise sums to the central σ·C, so the server never sees an un-noised sum)
//   round  stochastically to fixed point ints (unbiased: E[q] = x·scale), ready for
//          secure aggregation, which adds integers modulo 2^k; conditionally (Kairouz et
//          al. 2021): a rounding whose decoded norm exceeds the round's bound is redrawn,
//          so the bound the server enforces, and the accountant assumes, holds exactly
//
// Wire format (little endian), protocol version 1 — see server/PROTOCOL.md:
//   0  u8[4] magic "SLFU"
//   4  u16   protocol version (1)
//   6  u8    bits per value (8 | 16 | 32), signed two's complement
//   7  u8    within-clip bit (1 if the update's norm was ≤ C before clipping; used for
//            adaptive clipping, Andrew et al. 2021)
//   8  u32   round id
//   12 u32   model version the delta is relative to
//   16 u32   number of values
//   20 f32   scale (value = int / scale)
//   24 ...   values
// Nothing else: no client id, timestamp, example count or norm leaves the device.
// Pure TypeScript (no DOM, no Node APIs).

export const SUMMARY_MAGIC = 0x55464c53; // "SLFU" read as little-endian u32
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 24;

export type ValueBits = 8 | 16 | 32;

export interface SummaryHeader {
  protocolVersion: number;
  bits: ValueBits;
  withinClip: boolean;
  roundId: number;
  modelVersion: number;
  length: number;
  scale: number;
}

export interface DecodedSummary extends SummaryHeader {
  /** the fixed-point integers as sent */
  ints: Int8Array | Int16Array | Int32Array;
}

export class SummaryFormatError extends Error {}

/** Concatenates weight tensors in wire order into one vector. */
export function flattenWeights(weights: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(weights.reduce((n, w) => n + w.length, 0));
  let offset = 0;
  for (const w of weights) {
    out.set(w, offset);
    offset += w.length;
  }
  return out;
}

/** Splits a flat vector back into tensors shaped like `like`. */
export function unflattenWeights(flat: Float32Array, like: readonly { length: number }[]): Float32Array[] {
  const total = like.reduce((n, w) => n + w.length, 0);
  if (total !== flat.length) throw new Error(`expected ${total} values, got ${flat.length}`);
  let offset = 0;
  return like.map((w) => {
    const part = flat.slice(offset, offset + w.length);
    offset += w.length;
    return part;
  });
}

export function l2Norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** Scales v in place so that ‖v‖₂ ≤ clipNorm. Returns the norm before clipping. */
export function clipInPlace(v: Float32Array | Float64Array, clipNorm: number): number {
  const norm = l2Norm(v);
  if (norm > clipNorm) {
    // float32 rounding can leave the result a hair above the bound: shrink by one ulp-ish margin
    const f = (clipNorm / norm) * (1 - 1e-6);
    for (let i = 0; i < v.length; i++) v[i] *= f;
  }
  return norm;
}

/** Uniform [0, 1) from the platform CSPRNG (Web Crypto exists in browsers, workers and Node ≥ 19). */
export function secureRandom(): () => number {
  const buf = new Uint32Array(1024);
  let i = buf.length;
  return () => {
    if (i === buf.length) {
      globalThis.crypto.getRandomValues(buf);
      i = 0;
    }
    return buf[i++] / 4294967296;
  };
}

/** Standard normal draws (Box–Muller), from a uniform source. */
export function gaussian(random: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = random();
    const r = Math.sqrt(-2 * Math.log(u));
    const t = 2 * Math.PI * random();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
}

export function addGaussianNoiseInPlace(v: Float32Array | Float64Array, std: number, random: () => number): void {
  if (std <= 0) return;
  const normal = gaussian(random);
  for (let i = 0; i < v.length; i++) v[i] += std * normal();
}

function intRange(bits: ValueBits): number {
  return 2 ** (bits - 1) - 1;
}

/**
 * Stochastic rounding to fixed point: x·scale rounds up with probability equal to its
 * fractional part, so the expectation is exact. Values beyond the int range saturate
 * (choose scale so that this is rare: see defaultScale).
 */
export function stochasticQuantize(v: ArrayLike<number>, scale: number, bits: ValueBits, random: () => number): Int8Array | Int16Array | Int32Array {
  const out = bits === 8 ? new Int8Array(v.length) : bits === 16 ? new Int16Array(v.length) : new Int32Array(v.length);
  const max = intRange(bits);
  for (let i = 0; i < v.length; i++) {
    const x = v[i] * scale;
    const floor = Math.floor(x);
    let q = floor + (random() < x - floor ? 1 : 0);
    if (q > max) q = max;
    else if (q < -max) q = -max;
    out[i] = q;
  }
  return out;
}

/**
 * A scale that keeps every coordinate of a clipped vector within range: |x_i| ≤ ‖x‖ ≤ C
 * (plus `headroom` × C for client noise). Resolution is then C·headroom / (2^(bits−1) − 1).
 */
export function defaultScale(clipNorm: number, bits: ValueBits, headroom = 1): number {
  return intRange(bits) / (clipNorm * headroom);
}

export function encodeSummary(header: Omit<SummaryHeader, 'protocolVersion' | 'length' | 'bits'>, ints: Int8Array | Int16Array | Int32Array): Uint8Array {
  const bits = (ints.BYTES_PER_ELEMENT * 8) as ValueBits;
  const bytes = new Uint8Array(HEADER_BYTES + ints.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SUMMARY_MAGIC, true);
  view.setUint16(4, PROTOCOL_VERSION, true);
  view.setUint8(6, bits);
  view.setUint8(7, header.withinClip ? 1 : 0);
  view.setUint32(8, header.roundId >>> 0, true);
  view.setUint32(12, header.modelVersion >>> 0, true);
  view.setUint32(16, ints.length, true);
  view.setFloat32(20, header.scale, true);
  // explicit little-endian writes so the format does not depend on the host's byte order
  const off = HEADER_BYTES;
  if (bits === 8) bytes.set(new Uint8Array(ints.buffer, ints.byteOffset, ints.length), off);
  else if (bits === 16) for (let i = 0; i < ints.length; i++) view.setInt16(off + 2 * i, ints[i], true);
  else for (let i = 0; i < ints.length; i++) view.setInt32(off + 4 * i, ints[i], true);
  return bytes;
}

/** Parses only the fixed header (validates magic, version, bits, total size). */
export function decodeHeader(bytes: Uint8Array): SummaryHeader {
  if (bytes.length < HEADER_BYTES) throw new SummaryFormatError(`summary shorter than its ${HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== SUMMARY_MAGIC) throw new SummaryFormatError('bad magic: not a Silo update summary');
  const protocolVersion = view.getUint16(4, true);
  if (protocolVersion !== PROTOCOL_VERSION) throw new SummaryFormatError(`unsupported protocol version ${protocolVersion}`);
  const bits = view.getUint8(6);
  if (bits !== 8 && bits !== 16 && bits !== 32) throw new SummaryFormatError(`unsupported value width ${bits} bits`);
  const flag = view.getUint8(7);
  if (flag > 1) throw new SummaryFormatError('within-clip flag must be 0 or 1');
  const length = view.getUint32(16, true);
  const scale = view.getFloat32(20, true);
  if (!Number.isFinite(scale) || scale <= 0) throw new SummaryFormatError('scale must be finite and positive');
  const expected = HEADER_BYTES + (length * bits) / 8;
  if (bytes.length !== expected) throw new SummaryFormatError(`body is ${bytes.length} bytes, header promises ${expected}`);
  return {
    protocolVersion,
    bits,
    withinClip: flag === 1,
    roundId: view.getUint32(8, true),
    modelVersion: view.getUint32(12, true),
    length,
    scale,
  };
}

export function decodeSummary(bytes: Uint8Array): DecodedSummary {
  const header = decodeHeader(bytes);
  const ints = header.bits === 8 ? new Int8Array(bytes.slice(HEADER_BYTES).buffer) : copyWideValues(bytes, header.bits, header.length);
  return { ...header, ints };
}

/** The 16- or 32-bit values of a summary body, copied out little-endian (any alignment, any host). */
export function copyWideValues(bytes: Uint8Array, bits: 16 | 32, n: number): Int16Array | Int32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bits === 16) {
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getInt16(HEADER_BYTES + 2 * i, true);
    return out;
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getInt32(HEADER_BYTES + 4 * i, true);
  return out;
}

/** The real-valued delta a decoded summary stands for. */
export function dequantize(summary: DecodedSummary): Float32Array {
  const out = new Float32Array(summary.length);
  const inv = 1 / summary.scale;
  for (let i = 0; i < out.length; i++) out[i] = summary.ints[i] * inv;
  return out;
}

/** ln(1/β) for the rounding bound: an honest client redraws with probability below β = e^-28 ≈ 7e-13 */
const ROUNDING_TAIL = 28;

/**
 * The decoded-norm bound of a stochastically rounded vector x (‖x‖ ≤ `norm`, `length`
 * values, grid 1/scale) that fails with probability below e^-28 (Hoeffding on ⟨x, e⟩ and
 * on ‖e‖², each rounding error e_i in an interval of width 1 with variance ≤ 1/4):
 *   B² = norm² + 2·norm·√(t/2)/scale + (length/4 + √(length·t/2))/scale²
 * `noiseStd`: client noise added before rounding (its norm ≤ std·(√length + 6) except with
 * negligible probability) widens `norm`.
 */
export function roundedNormBound(norm: number, scale: number, length: number, noiseStd = 0): number {
  const x = norm + (noiseStd > 0 ? noiseStd * (Math.sqrt(length) + 6) : 0);
  const t = ROUNDING_TAIL;
  const sq = x * x + (2 * x * Math.sqrt(t / 2)) / scale + (length / 4 + Math.sqrt((length * t) / 2)) / (scale * scale);
  return Math.sqrt(sq) * (1 + 1e-9);
}

/** ‖ints / scale‖₂ */
export function decodedNorm(ints: ArrayLike<number>, scale: number): number {
  let s = 0;
  for (let i = 0; i < ints.length; i++) s += ints[i] * ints[i];
  return Math.sqrt(s) / scale;
}

/**
 * Stochastic rounding conditioned on ‖q/scale‖ ≤ normBound: redraws until it holds. For a
 * vector within roundedNormBound's premises one draw fails with probability < 1e-12, so
 * the condition barely changes the rounding's distribution.
 */
export function conditionalQuantize(v: ArrayLike<number>, scale: number, bits: ValueBits, normBound: number, random: () => number): Int8Array | Int16Array | Int32Array {
  for (let attempt = 0; attempt < 64; attempt++) {
    const q = stochasticQuantize(v, scale, bits, random);
    if (decodedNorm(q, scale) <= normBound) return q;
  }
  throw new Error(`no rounding within the round's norm bound ${normBound} in 64 draws: the vector exceeds the bound's premises`);
}

/**
 * Stochastic rounding that lands within the clip norm C itself. Where clients add no noise the
 * server holds every upload to C (server/rounds/clamp.ts): a rounding above C (usual, by a few
 * percent, for a vector clipped to exactly C) would be scaled down there, at several ms of the
 * server's CPU per upload. So the client shrinks its vector by the overshoot and redraws
 * instead; the shrink is what the server's scaling would have done, and honest uploads reach
 * the server within C. Shrinking towards zero also shrinks the rounding error, so it ends.
 * `v` is modified.
 */
export function quantizeWithinClip(v: Float32Array, scale: number, bits: ValueBits, clipNorm: number, random: () => number): Int8Array | Int16Array | Int32Array {
  for (let attempt = 0; attempt < 64; attempt++) {
    const q = stochasticQuantize(v, scale, bits, random);
    const norm = decodedNorm(q, scale);
    if (norm <= clipNorm) return q;
    const shrink = (clipNorm / norm) * (1 - 1e-3);
    for (let i = 0; i < v.length; i++) v[i] *= shrink;
  }
  throw new Error(`no rounding within the clip norm ${clipNorm} in 64 draws`);
}

export interface SummaryOptions {
  roundId: number;
  modelVersion: number;
  clipNorm: number;
  /** std of per-coordinate Gaussian noise the client adds (0 = none): σ·C/√n for distributed DP */
  clientNoiseStd: number;
  bits: ValueBits;
  scale: number;
  /** the round's bound on the decoded norm (RoundTask.normBound); absent: plain stochastic rounding */
  normBound?: number;
  random?: () => number;
}

/** delta → clipped, optionally noised, quantised, encoded summary. `delta` is modified. */
export function summariseDelta(delta: Float32Array, options: SummaryOptions): { bytes: Uint8Array; normBeforeClip: number } {
  const random = options.random ?? secureRandom();
  const normBeforeClip = clipInPlace(delta, options.clipNorm);
  addGaussianNoiseInPlace(delta, options.clientNoiseStd, random);
  const ints =
    options.normBound === undefined
      ? stochasticQuantize(delta, options.scale, options.bits, random)
      : options.clientNoiseStd === 0
        ? quantizeWithinClip(delta, options.scale, options.bits, options.clipNorm, random)
        : conditionalQuantize(delta, options.scale, options.bits, options.normBound, random);
  const bytes = encodeSummary(
    { withinClip: normBeforeClip <= options.clipNorm, roundId: options.roundId, modelVersion: options.modelVersion, scale: options.scale },
    ints,
  );
  return { bytes, normBeforeClip };
}
