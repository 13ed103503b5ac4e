// The compact model downloads (?format=int8|float16): encoded from the verified float32
// version, hashed over exactly the bytes sent, decoded by the client to within the
// format's rounding, and refused by the client when a byte changes in transit.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { decodeWeights } from '../../models/weights.ts';
import { startServer, tempDir } from './harness.ts';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

// layers of very different ranges in one flat vector, as in a real model: a large
// embedding-like part and a small bias-like one (the last 4096-value block)
const LENGTH = 10_000;
const initialWeights = new Float32Array(LENGTH).map((_, i) => (i < 8192 ? Math.sin(i * 0.37) * 0.8 : Math.cos(i) * 0.002));

async function started() {
  return startServer(cleanups, { dir: tempDir(cleanups), length: LENGTH, initialWeights });
}

describe('compact model downloads', () => {
  it('serves int8 SILW hashed over the bytes sent, within half a step of the float32 model per block', async () => {
    const { base } = await started();
    const float32 = await fetch(`${base}/fl/v1/model/1`);
    const raw = new Uint8Array(await float32.arrayBuffer());
    expect(raw.length).toBe(LENGTH * 4);
    const res = await fetch(`${base}/fl/v1/model/1?format=int8`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-silo-model-format')).toBe('int8');
    expect(res.headers.get('cache-control')).toContain('immutable');
    const body = new Uint8Array(await res.arrayBuffer());
    expect(res.headers.get('x-silo-sha256')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(res.headers.get('x-silo-sha256')).not.toBe(float32.headers.get('x-silo-sha256'));
    expect(body.length).toBeLessThan(raw.length / 3);

    const decoded = decodeWeights<{ length: number }>(body.slice().buffer);
    expect(decoded.dtype).toBe('int8');
    expect(decoded.config.length).toBe(LENGTH);
    let at = 0;
    for (const block of decoded.weights) {
      const original = initialWeights.subarray(at, at + block.length);
      const step = original.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 127;
      for (let j = 0; j < block.length; j++) expect(Math.abs(block[j] - original[j])).toBeLessThanOrEqual(step / 2 + 1e-7);
      at += block.length;
    }
    expect(at).toBe(LENGTH);
    // the small last block keeps its own resolution: a single scale would round it to 0
    expect(Math.max(...decoded.weights.at(-1)!.map(Math.abs))).toBeGreaterThan(0.001);
  });

  it('decodes int8 and float16 in the client to float32 weights of the model’s length', async () => {
    const { base } = await started();
    const client = new FederatedHttpClient(base);
    const exact = await client.downloadModel(1);
    expect(exact.weights).toEqual(initialWeights);
    const int8 = await client.downloadModel('latest', 'int8');
    const half = await client.downloadModel(1, 'float16');
    expect(int8.version).toBe(1);
    expect(int8.weights.length).toBe(LENGTH);
    expect(half.weights.length).toBe(LENGTH);
    const maxError = (w: Float32Array) => w.reduce((m, v, i) => Math.max(m, Math.abs(v - initialWeights[i])), 0);
    expect(maxError(int8.weights)).toBeLessThanOrEqual(0.8 / 127 / 2 + 1e-7);
    expect(maxError(half.weights)).toBeLessThanOrEqual(0.8 / 2048 + 1e-7);
    expect(maxError(half.weights)).toBeLessThan(maxError(int8.weights));
  });

  it('answers an unknown format with 400 and a JSON reason', async () => {
    const { base } = await started();
    const res = await fetch(`${base}/fl/v1/model/1?format=int4`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/unknown model format "int4"/);
  });

  it('the client refuses an int8 body with one byte changed in transit', async () => {
    const { base } = await started();
    const res = await fetch(`${base}/fl/v1/model/1?format=int8`);
    const body = Buffer.from(await res.arrayBuffer());
    body[body.length - 1] ^= 0xff;
    const tampering = createServer((_req, out) => {
      out.writeHead(200, { 'x-silo-model-version': '1', 'x-silo-sha256': res.headers.get('x-silo-sha256')! });
      out.end(body);
    });
    await new Promise<void>((r) => tampering.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => tampering.close(() => r())));
    const client = new FederatedHttpClient(`http://127.0.0.1:${(tampering.address() as AddressInfo).port}`);
    await expect(client.downloadModel(1, 'int8')).rejects.toThrow(/SHA-256/);
  });
});
