// Request bodies: read with a size limit, a time limit and a cap on how many are read at
// once, so open uploads cannot hold more than maxConcurrent × limit bytes.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './respond.ts';

/**
 * Reusable upload buffers for the exact sizes of well-formed summaries: a 256 KB allocation
 * per upload is mostly garbage-collector work at hundreds of uploads a second.
 */
export class BodyPool {
  private readonly free = new Map<number, Buffer[]>();
  constructor(private readonly sizes: Set<number>, private readonly keep = 32) {}
  take(size: number): Buffer | null {
    if (!this.sizes.has(size)) return null;
    return this.free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size); // own ArrayBuffer: word-aligned values
  }
  give(b: Uint8Array): void {
    if (!(b instanceof Buffer) || !this.sizes.has(b.length) || b.byteOffset !== 0) return;
    const list = this.free.get(b.length) ?? [];
    if (list.length < this.keep && !list.includes(b)) list.push(b);
    this.free.set(b.length, list);
  }
}

export interface BodyLimits {
  /** bytes */
  limit: number;
  /** the whole body must arrive within this many milliseconds (408 otherwise) */
  timeoutMs: number;
  pool?: BodyPool;
}

/** Reads the body (one copy), refusing with 413 past `limit` bytes and 408 past `timeoutMs`. */
export function readBody(req: IncomingMessage, { limit, timeoutMs, pool }: BodyLimits): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new HttpError(413, `body of ${declared} bytes exceeds the limit of ${limit}`));
      return;
    }
    const target = Number.isFinite(declared) ? (pool?.take(declared) ?? null) : null;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (e: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (target) pool!.give(target);
      chunks.length = 0;
      req.removeAllListeners('data');
      req.resume(); // drain without keeping anything
      reject(e);
    };
    const timer = setTimeout(() => fail(new HttpError(408, `body not received within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      if (size + chunk.length > limit || (target && size + chunk.length > target.length)) {
        fail(new HttpError(413, `body exceeds the limit of ${limit} bytes`));
        return;
      }
      if (target) chunk.copy(target, size);
      else chunks.push(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!target) resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
      else if (size === target.length) resolve(target);
      else {
        pool!.give(target);
        resolve(Buffer.from(target.subarray(0, size))); // shorter than declared: the decoder answers 400
      }
    });
    req.on('error', (e) => fail(e));
    req.on('close', () => fail(new HttpError(400, 'request closed before its body ended')));
  });
}

/** At most `max` bodies read at once; the rest are answered 503 with Retry-After at once. */
export class ConcurrencyGate {
  private active = 0;
  constructor(readonly max: number, private readonly retryAfterSeconds = 5) {}
  get inFlight(): number {
    return this.active;
  }
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) throw new HttpError(503, `server busy: ${this.max} uploads in progress`, { 'retry-after': String(this.retryAfterSeconds) });
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
    }
  }
}
