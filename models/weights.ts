// Compact export/import of a trained model as one ArrayBuffer, for shipping a starting
// model to browsers or saving it in IndexedDB. Pure TypeScript, no tfjs.
//
// Layout: "SILW" magic, uint32 format version, uint32 header byte length, the header as
// UTF-8 JSON ({ config, dtype, tensors: [{ name, shape, offset, scale? }] }), zero padding
// to a multiple of 4 bytes, then every tensor's data in order (little-endian), each
// starting at a 4-byte-aligned offset counted from the start of the data section.
//
// dtypes: 'float32' (exact), 'float16' (IEEE half, ~3 significant digits) and 'int8'
// (symmetric, one scale per tensor: value = int8 * scale, scale = max|w| / 127).

export type WeightDType = 'float32' | 'float16' | 'int8';

export interface TensorEntry {
  name: string;
  shape: number[];
  /** byte offset of this tensor in the data section */
  offset: number;
  /** int8 only: value = stored * scale */
  scale?: number;
}

export interface WeightsHeader<C = unknown> {
  config: C;
  dtype: WeightDType;
  tensors: TensorEntry[];
}

const MAGIC = 0x574c4953; // "SILW" read as little-endian uint32
const VERSION = 1;
const BYTES: Record<WeightDType, number> = { float32: 4, float16: 2, int8: 1 };

const align4 = (n: number) => (n + 3) & ~3;

export function encodeWeights<C>(config: C, names: readonly string[], shapes: readonly number[][], weights: readonly Float32Array[], dtype: WeightDType = 'float16'): ArrayBuffer {
  if (names.length !== weights.length || shapes.length !== weights.length) throw new Error('names, shapes and weights must line up');
  const tensors: TensorEntry[] = [];
  let dataBytes = 0;
  weights.forEach((w, i) => {
    const size = shapes[i].reduce((a, b) => a * b, 1);
    if (size !== w.length) throw new Error(`${names[i]}: shape [${shapes[i]}] holds ${size} values, got ${w.length}`);
    const entry: TensorEntry = { name: names[i], shape: [...shapes[i]], offset: dataBytes };
    if (dtype === 'int8') {
      let max = 0;
      for (const v of w) max = Math.max(max, Math.abs(v));
      entry.scale = max > 0 ? max / 127 : 1;
    }
    tensors.push(entry);
    dataBytes = align4(dataBytes + w.length * BYTES[dtype]);
  });
  const header = new TextEncoder().encode(JSON.stringify({ config, dtype, tensors } satisfies WeightsHeader<C>));
  const dataStart = align4(12 + header.length);
  const buffer = new ArrayBuffer(dataStart + dataBytes);
  const view = new DataView(buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, header.length, true);
  new Uint8Array(buffer, 12, header.length).set(header);
  weights.forEach((w, i) => {
    const at = dataStart + tensors[i].offset;
    if (dtype === 'float32') for (let j = 0; j < w.length; j++) view.setFloat32(at + 4 * j, w[j], true);
    else if (dtype === 'float16') for (let j = 0; j < w.length; j++) view.setUint16(at + 2 * j, toFloat16(w[j]), true);
    else {
      const scale = tensors[i].scale!;
      for (let j = 0; j < w.length; j++) view.setInt8(at + j, Math.max(-127, Math.min(127, Math.round(w[j] / scale))));
    }
  });
  return buffer;
}

export function decodeWeights<C = unknown>(buffer: ArrayBuffer): { config: C; dtype: WeightDType; names: string[]; shapes: number[][]; weights: Float32Array[] } {
  const view = new DataView(buffer);
  if (buffer.byteLength < 12 || view.getUint32(0, true) !== MAGIC) throw new Error('not a Silo weights buffer');
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw new Error(`unsupported weights format version ${version}`);
  const headerLength = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 12, headerLength))) as WeightsHeader<C>;
  const dataStart = align4(12 + headerLength);
  const weights = header.tensors.map((t) => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    const at = dataStart + t.offset;
    if (at + size * BYTES[header.dtype] > buffer.byteLength) throw new Error(`${t.name}: data past the end of the buffer`);
    const out = new Float32Array(size);
    if (header.dtype === 'float32') for (let j = 0; j < size; j++) out[j] = view.getFloat32(at + 4 * j, true);
    else if (header.dtype === 'float16') for (let j = 0; j < size; j++) out[j] = fromFloat16(view.getUint16(at + 2 * j, true));
    else for (let j = 0; j < size; j++) out[j] = view.getInt8(at + j) * t.scale!;
    return out;
  });
  return { config: header.config, dtype: header.dtype, names: header.tensors.map((t) => t.name), shapes: header.tensors.map((t) => t.shape), weights };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE 754 half bits, round to nearest even; overflow → ±Infinity. */
export function toFloat16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // too small: signed zero
    mant |= 0x800000; // make the implicit bit explicit, then shift into a subnormal
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // may carry into the exponent: still correct
  return h;
}

export function fromFloat16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
