/** TLS-presentation-style byte encoding (big-endian lengths), as DAP frames its messages. */

export class ByteWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  bytes(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  uint(value: number, width: 1 | 2 | 4): this {
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** (8 * width)) throw new Error(`value ${value} does not fit in ${width} bytes`);
    const b = new Uint8Array(width);
    for (let i = width - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) b[i] = v & 0xff;
    return this.bytes(b);
  }

  uint64(value: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, value, false);
    return this.bytes(b);
  }

  /** A variable-length vector: its length in `width` bytes, then the bytes. */
  opaque(b: Uint8Array, width: 1 | 2 | 4): this {
    return this.uint(b.length, width).bytes(b);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

export class ByteReader {
  private offset = 0;
  constructor(private readonly buf: Uint8Array) {}

  bytes(n: number): Uint8Array {
    if (this.offset + n > this.buf.length) throw new Error('message truncated');
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  uint(width: 1 | 2 | 4): number {
    const b = this.bytes(width);
    let v = 0;
    for (const x of b) v = v * 256 + x;
    return v;
  }

  uint64(): bigint {
    const b = this.bytes(8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, false);
  }

  opaque(width: 1 | 2 | 4): Uint8Array {
    return this.bytes(this.uint(width));
  }

  /** Throws unless every byte was consumed: trailing bytes mean a malformed message. */
  end(): void {
    if (this.offset !== this.buf.length) throw new Error('trailing bytes after message');
  }
}
