// Byte entropy of the bodies a server can read, per kind of body: pooled over all shoppers
// (one histogram) and the lowest single body, with the estimator's shortfall for its size.
import { entropyBitsPerByte, uniformEntropyShortfall } from './stats.ts';

export interface BodyEntropy {
  body: string;
  /** who can read it */
  reader: string;
  bodies: number;
  bytesPerBody: number;
  /** entropy of all bodies of this kind pooled */
  pooledBitsPerByte: number;
  /** the lowest entropy of one body */
  minBodyBitsPerByte: number;
  /** what uniform bytes would read (8 − plug-in shortfall) at the pooled size and at one body's size */
  uniformPooledBitsPerByte: number;
  uniformBodyBitsPerByte: number;
  /** fixed framing bytes (length prefixes, time, ids of known value) per body, not counted above */
  framingBytes: number;
}

export class EntropyMeter {
  private readonly kinds = new Map<string, { reader: string; counts: Float64Array; n: number; bodies: number; min: number; framing: number }>();

  add(body: string, reader: string, bytes: Uint8Array, framingBytes = 0): void {
    let k = this.kinds.get(body);
    if (!k) this.kinds.set(body, (k = { reader, counts: new Float64Array(256), n: 0, bodies: 0, min: Infinity, framing: framingBytes }));
    for (const b of bytes) k.counts[b] += 1;
    k.n += bytes.length;
    k.bodies += 1;
    k.min = Math.min(k.min, entropyBitsPerByte(bytes));
  }

  results(): BodyEntropy[] {
    return [...this.kinds].map(([body, k]) => {
      let h = 0;
      for (const c of k.counts) if (c > 0) h -= (c / k.n) * Math.log2(c / k.n);
      const per = k.n / k.bodies;
      return {
        body, reader: k.reader, bodies: k.bodies, bytesPerBody: per, pooledBitsPerByte: h, minBodyBitsPerByte: k.min,
        uniformPooledBitsPerByte: 8 - uniformEntropyShortfall(k.n), uniformBodyBitsPerByte: 8 - uniformEntropyShortfall(per), framingBytes: k.framing,
      };
    });
  }
}
