// Child process for slow-uploads.test.ts: a real aggregator on loopback that reports its
// RSS (sampled every 50 ms, peak and current) when asked over IPC.
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAggregator } from '../../server/aggregator.ts';
import { FedAvg } from '../../server/strategies.ts';

const config = JSON.parse(process.argv[2]) as { length: number; bodyTimeoutMs: number; maxConcurrentUploads: number };
const agg = await createAggregator({
  initialWeights: new Float32Array(config.length),
  dataDir: mkdtempSync(join(tmpdir(), 'silo-slow-')),
  strategy: new FedAvg(1),
  minParticipants: 1,
  maxParticipants: 5000,
  bits: 8,
  roundDurationMs: 3_600_000,
  edge: { bodyTimeoutMs: config.bodyTimeoutMs, maxConcurrentUploads: config.maxConcurrentUploads },
});
const server = createServer(async (req, res) => {
  if (!(await agg.handle(req, res))) res.writeHead(404).end();
});
server.maxConnections = 5000;
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
let peak = process.memoryUsage.rss();
setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50).unref();
process.on('message', (m: string) => {
  if (m === 'rss') {
    (globalThis as { gc?: () => void }).gc?.();
    process.send!({ rss: process.memoryUsage.rss(), peak });
  } else if (m === 'reset-peak') {
    peak = process.memoryUsage.rss();
    process.send!({ ok: true });
  } else if (m === 'exit') {
    server.closeAllConnections();
    server.close();
    void agg.close().then(() => process.exit(0));
  }
});
process.send!({ port: (server.address() as AddressInfo).port });
