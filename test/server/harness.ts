// A real aggregator behind node:http on loopback, over an embedded FileStore in a temp dir,
// for the server tests that need no Redis.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoundTask } from '../../federated/protocol.ts';
import { encodeSummary, stochasticQuantize } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { createAggregator, type Aggregator, type AggregatorOptions } from '../../server/aggregator.ts';
import { FileStore } from '../../server/file-store.ts';
import type { AggregatorStore } from '../../server/store.ts';
import { FedAvg } from '../../server/strategies.ts';

export interface Started {
  agg: Aggregator;
  base: string;
  server: Server;
  dir: string;
  stop: () => Promise<void>;
}

export function tempDir(cleanups: (() => unknown)[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-fl-hard-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function startServer(cleanups: (() => unknown)[], options: Partial<AggregatorOptions> & { dir: string; length?: number; wrapStore?: (s: AggregatorStore) => AggregatorStore }): Promise<Started> {
  const { dir, length = 500, wrapStore = (s) => s, ...rest } = options;
  const agg = await createAggregator({
    store: wrapStore(new FileStore(dir)),
    initialWeights: new Float32Array(length).fill(0.5),
    strategy: new FedAvg(1),
    minParticipants: 2,
    maxParticipants: 3,
    ...rest,
  });
  const server = createServer(async (req, res) => {
    if (!(await agg.handle(req, res))) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await agg.close();
  };
  cleanups.push(stop);
  return { agg, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, dir, stop };
}

/** A summary carrying `value` in every coordinate (before quantisation). */
export function summaryFor(task: RoundTask, value: number): Uint8Array {
  const ints = stochasticQuantize(new Float32Array(task.length).fill(value), task.scale, task.bits, mulberry32(1));
  return encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: task.scale }, ints);
}

export async function checkInTask(client: FederatedHttpClient): Promise<{ task: RoundTask; token: string }> {
  const r = await client.checkIn();
  if (r.status !== 'task' || !r.token) throw new Error('expected a task');
  return { task: r.task, token: r.token };
}

export async function post(base: string, path: string, body: Uint8Array | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: { error?: string } & Record<string, unknown> }> {
  const res = await fetch(base + path, { method: 'POST', body: body as BodyInit, headers });
  return { status: res.status, headers: res.headers, json: (await res.json()) as { error?: string } };
}
