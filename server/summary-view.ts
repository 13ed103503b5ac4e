// Zero-copy reading of an update summary (wire format v1, federated/summary.ts): the header
// is validated by decodeHeader, the values are a typed-array view on the request body
// instead of decodeSummary's copy, so the server touches each value only to check the norm
// and to add it into the running sum.
import { endianness } from 'node:os';
import { copyWideValues, decodeHeader, HEADER_BYTES, type SummaryHeader } from '../federated/summary.ts';
import type { QuantizedValues } from './strategies.ts';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

export function quantizedView(bytes: Uint8Array): SummaryHeader & { ints: QuantizedValues } {
  const header = decodeHeader(bytes);
  const n = header.length;
  const offset = bytes.byteOffset + HEADER_BYTES;
  let ints: QuantizedValues;
  if (header.bits === 8) ints = new Int8Array(bytes.buffer, offset, n);
  else if (LITTLE_ENDIAN_HOST && offset % (header.bits / 8) === 0) ints = header.bits === 16 ? new Int16Array(bytes.buffer, offset, n) : new Int32Array(bytes.buffer, offset, n);
  // unaligned body (or a big-endian host): one explicit little-endian copy
  else ints = copyWideValues(bytes, header.bits, n);
  return { ...header, ints };
}
