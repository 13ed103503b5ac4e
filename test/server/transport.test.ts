import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FederatedHttpClient } from '../../federated/transport.ts';

// A stand-in server whose model body does not match its advertised hash: the client must refuse it.
let base = '';
const server = createServer((req, res) => {
  const body = Buffer.from(new Float32Array([1, 2, 3]).buffer);
  if (req.url === '/fl/v1/model/1') {
    res.writeHead(200, { 'x-silo-model-version': '1', 'x-silo-sha256': '0'.repeat(64) });
    res.end(body);
  } else {
    res.writeHead(410, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'gone fishing' }));
  }
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('FederatedHttpClient', () => {
  it('refuses a model whose SHA-256 does not match the header', async () => {
    await expect(new FederatedHttpClient(base).downloadModel(1)).rejects.toThrow(/SHA-256/);
  });
  it('surfaces the server’s JSON error reason', async () => {
    await expect(new FederatedHttpClient(base).checkIn()).rejects.toThrow(/HTTP 410: gone fishing/);
  });
});
