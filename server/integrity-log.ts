// The embedded store's round log records, each checksummed, and the scan that tells a torn
// tail (a crash cut the last write short: never acknowledged) from damage (refuse to start).
//   record: [u8 type][u8 token length][u32 payload length][u32 CRC-32 of those 6 bytes]
//           [token][payload][u32 CRC-32 of token + payload]
// The header has its own checksum so a damaged length can never pass for a short last record.
import { crc32 } from 'node:zlib';

export const TOKEN_ISSUED = 1;
export const SUMMARY_ACCEPTED = 2;
export const RECORD_HEADER = 10;
const TRAILER = 4;

export function encodeRecord(type: number, token: string, payload: Uint8Array | null): Uint8Array[] {
  const tokenBytes = Buffer.from(token, 'utf8');
  if (tokenBytes.length > 255) throw new Error('token too long');
  const head = Buffer.allocUnsafe(RECORD_HEADER + tokenBytes.length);
  head.writeUInt8(type, 0);
  head.writeUInt8(tokenBytes.length, 1);
  head.writeUInt32LE(payload ? payload.length : 0, 2);
  head.writeUInt32LE(crc32(head.subarray(0, 6)), 6);
  tokenBytes.copy(head, RECORD_HEADER);
  const tail = Buffer.allocUnsafe(TRAILER);
  tail.writeUInt32LE(payload ? crc32(payload, crc32(tokenBytes)) : crc32(tokenBytes), 0);
  return payload ? [head, payload, tail] : [head, tail];
}

export interface LogRecord {
  type: number;
  token: string;
  offset: number;
  payloadStart: number;
  payloadLength: number;
  end: number;
}

export type RecordAt = { kind: 'record'; record: LogRecord } | { kind: 'torn' } | { kind: 'damaged'; reason: string; end: number | null };

/** The record at `off` of a log held in `bytes`, whose real length is `size`. */
export function recordAt(bytes: Uint8Array, off: number, size = bytes.length): RecordAt {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (off + RECORD_HEADER > size) return { kind: 'torn' }; // not even a header: the write was cut short
  if (b.readUInt32LE(off + 6) !== crc32(b.subarray(off, off + 6))) return { kind: 'damaged', reason: 'record header checksum mismatch', end: null };
  const type = b[off];
  const tl = b[off + 1];
  const pl = b.readUInt32LE(off + 2);
  const end = off + RECORD_HEADER + tl + pl + TRAILER;
  if (end > size) return { kind: 'torn' }; // an intact header promising more bytes than the file has
  if (type !== TOKEN_ISSUED && type !== SUMMARY_ACCEPTED) return { kind: 'damaged', reason: `unknown record type ${type}`, end };
  if (end > b.length) return { kind: 'torn' }; // (a caller that holds only the header)
  const body = b.subarray(off + RECORD_HEADER, end - TRAILER);
  if (b.readUInt32LE(end - TRAILER) !== crc32(body)) return { kind: 'damaged', reason: 'record checksum mismatch', end };
  const token = b.toString('utf8', off + RECORD_HEADER, off + RECORD_HEADER + tl);
  return { kind: 'record', record: { type, token, offset: off, payloadStart: off + RECORD_HEADER + tl, payloadLength: pl, end } };
}

export interface LogDamage {
  offset: number;
  /** where the next intact record starts (or the file ends) */
  end: number;
  reason: string;
}

export interface LogScan {
  records: LogRecord[];
  /** strict: at most one, the first; salvage: every damaged stretch */
  damaged: LogDamage[];
  /** where a torn last record starts (null: none) */
  tornAt: number | null;
  /** bytes up to the end of the last intact record */
  intactEnd: number;
}

/** The next offset after `from` where an intact record starts (or the length: none). */
export function resync(bytes: Uint8Array, from: number): number {
  for (let p = from; p + RECORD_HEADER <= bytes.length; p++) {
    if (bytes[p] !== TOKEN_ISSUED && bytes[p] !== SUMMARY_ACCEPTED) continue;
    if (recordAt(bytes, p).kind === 'record') return p;
  }
  return bytes.length;
}

/**
 * Reads every record. 'strict' stops at the first damaged record; 'salvage' (repair) skips
 * damaged stretches to the next intact record. A cut-short record is torn only where nothing
 * follows it: it can only be the last write.
 */
export function scanLog(bytes: Uint8Array, mode: 'strict' | 'salvage'): LogScan {
  const scan: LogScan = { records: [], damaged: [], tornAt: null, intactEnd: 0 };
  let off = 0;
  while (off < bytes.length) {
    const at = recordAt(bytes, off);
    if (at.kind === 'record') {
      scan.records.push(at.record);
      off = scan.intactEnd = at.record.end;
    } else if (at.kind === 'torn') {
      scan.tornAt = off;
      break;
    } else {
      const end = mode === 'strict' ? at.end ?? bytes.length : resync(bytes, at.end ?? off + 1);
      scan.damaged.push({ offset: off, end, reason: at.reason });
      if (mode === 'strict') break;
      off = end;
    }
  }
  return scan;
}
