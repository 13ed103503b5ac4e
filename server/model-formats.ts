// Compact encodings of a model version for downloads: the same flat float32 vector in the
// SILW weights format (models/weights.ts) at int8 or float16. int8 keeps one scale per block
// of BLOCK values (each block is one SILW tensor) because the flat vector mixes layers whose
// ranges differ, and a single scale would round the small ones away.
import { encodeWeights, type WeightDType } from '../models/weights.ts';
import { sha256Hex, type Download } from './downloads.ts';
import { HttpError } from './http/respond.ts';

export type ModelFormat = 'float32' | 'int8' | 'float16';
export const MODEL_FORMATS: readonly ModelFormat[] = ['float32', 'int8', 'float16'];
export const SILW_MEDIA_TYPE = 'application/x-silo-weights';
const BLOCK = 4096;

/** The format asked for by `?format=`; float32 (the raw vector) when absent. */
export function requestedFormat(url: string | undefined): ModelFormat {
  const format = new URL(url ?? '/', 'http://x').searchParams.get('format') ?? 'float32';
  if (!(MODEL_FORMATS as readonly string[]).includes(format)) throw new HttpError(400, `unknown model format "${format}"; use one of ${MODEL_FORMATS.join(', ')}`);
  return format as ModelFormat;
}

/** The float32 download (raw little-endian bytes) re-encoded as SILW with `dtype`. */
export function encodeModel(float32: Download, dtype: Exclude<WeightDType, 'float32'>): Download {
  const { bytes } = float32;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);
  const names: string[] = [];
  const shapes: number[][] = [];
  const blocks: Float32Array[] = [];
  for (let at = 0; at < values.length; at += BLOCK) {
    const block = values.subarray(at, Math.min(values.length, at + BLOCK));
    names.push(String(blocks.length));
    shapes.push([block.length]);
    blocks.push(block);
  }
  const encoded = new Uint8Array(encodeWeights({ length: values.length }, names, shapes, blocks, dtype));
  return { bytes: encoded, sha256: sha256Hex(encoded) };
}

/** `download` with its compact encodings computed once per version (versions are immutable). */
export function withFormats(download: (version: number) => Promise<Download | null>, keep = 3): (version: number, format: ModelFormat) => Promise<Download | null> {
  const cache = new Map<string, Download>();
  return async (version, format) => {
    const float32 = await download(version); // verified against the recorded hash on every first read
    if (!float32 || format === 'float32') return float32;
    const key = `${version}/${format}`;
    let m = cache.get(key);
    if (!m) {
      m = encodeModel(float32, format);
      if (cache.size >= keep * 2) cache.delete(cache.keys().next().value!);
      cache.set(key, m);
    }
    return m;
  };
}
