// bench:federated --throughput N: the server's accept path (decode + validate + durable append
// + streaming sum) timed on N synthetic updates of the model's size, over loopback HTTP.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSummary, stochasticQuantize } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { createAggregator } from '../../server/aggregator.ts';
import { FedAvg } from '../../server/strategies.ts';

export interface Throughput {
  updates: number;
  seconds: number;
  updatesPerSecond: number;
  rssGrowthMiB: number;
}

/** `initialWeights`: the model's flat weights; `nThroughput` updates are accepted, one at a time. */
export async function measureAcceptPath(initialWeights: Float32Array, bits: 8 | 16 | 32, nThroughput: number): Promise<Throughput> {
  const dir = mkdtempSync(join(tmpdir(), 'silo-bench-tp-'));
  const length = initialWeights.length;
  const agg = await createAggregator({ initialWeights, dataDir: dir, strategy: new FedAvg(1), minParticipants: 1, maxParticipants: nThroughput + 1, selectionProbability: 1, bits, roundDurationMs: 3600_000 });
  const srv = createServer(async (req, res) => {
    if (!(await agg.handle(req, res))) res.writeHead(404).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const c = new FederatedHttpClient(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`);
  const tasks = [];
  for (let i = 0; i < nThroughput; i++) {
    const a = await c.checkIn();
    if (a.status === 'task' && a.token) tasks.push({ task: a.task, token: a.token });
  }
  const vec = new Float32Array(length).fill(0.5 / Math.sqrt(length));
  const body = encodeSummary({ withinClip: true, roundId: tasks[0].task.roundId, modelVersion: tasks[0].task.modelVersion, scale: tasks[0].task.scale }, stochasticQuantize(vec, tasks[0].task.scale, bits, mulberry32(1)));
  const rss0 = process.memoryUsage().rss;
  const s0 = performance.now();
  for (const t of tasks) await c.uploadSummary(t.task.roundId, t.token, body);
  const seconds = (performance.now() - s0) / 1000;
  const throughput = { updates: tasks.length, seconds, updatesPerSecond: tasks.length / seconds, rssGrowthMiB: (process.memoryUsage().rss - rss0) / 2 ** 20 };
  console.log(`server accept path: ${tasks.length} updates of ${length} values (${(body.length / 1024).toFixed(0)} KiB) in ${seconds.toFixed(1)} s = ${throughput.updatesPerSecond.toFixed(1)} updates/s, RSS growth ${throughput.rssGrowthMiB.toFixed(0)} MiB`);
  await new Promise<void>((r) => srv.close(() => r()));
  await agg.close();
  rmSync(dir, { recursive: true, force: true });
  return throughput;
}
