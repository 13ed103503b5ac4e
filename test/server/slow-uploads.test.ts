// Memory under slow uploads: 1,000 clients each open an upload of a full 8-bit summary of
// the browser model's size and then stall. The aggregator reads at most maxConcurrentUploads
// bodies at once (503 + Retry-After for the rest), drops a body that has not arrived within
// bodyTimeoutMs (408), and so holds at most maxConcurrentUploads × one summary of body bytes.
import { fork, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';

const LENGTH = 226_600; // the browser model's parameter count
const SUMMARY = HEADER_BYTES + LENGTH;
const UPLOADS = 1000;
const CONCURRENT = 256;
const MB = 1024 * 1024;

let child: ChildProcess | null = null;
afterAll(() => child?.send('exit'));

function ask<T>(message: string): Promise<T> {
  return new Promise((resolve) => {
    child!.once('message', (m) => resolve(m as T));
    child!.send(message);
  });
}

/** Sends the headers and the first KiB of a summary-sized body, then stalls; resolves with the status the server answers. */
function slowUpload(port: number, roundId: number, token: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/fl/v1/rounds/${roundId}/summary`, headers: { 'content-length': String(SUMMARY), 'x-silo-token': token } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(-1));
    req.write(Buffer.alloc(1024));
  });
}

describe('slow uploads', () => {
  it(`bounds the aggregator's memory under ${UPLOADS} stalled uploads: ${CONCURRENT} read at once, the rest 503, stalled ones 408`, async () => {
    child = fork('test/server/slow-upload-server.ts', [JSON.stringify({ length: LENGTH, bodyTimeoutMs: 4000, maxConcurrentUploads: CONCURRENT })], { execArgv: ['--import', 'tsx', '--expose-gc'] });
    const { port } = await new Promise<{ port: number }>((r) => child!.once('message', (m) => r(m as { port: number })));
    const client = new FederatedHttpClient(`http://127.0.0.1:${port}`);
    const tokens: { roundId: number; token: string }[] = [];
    for (let i = 0; i < UPLOADS; i++) {
      const r = await client.checkIn();
      if (r.status !== 'task' || !r.token) throw new Error('expected a task');
      tokens.push({ roundId: r.task.roundId, token: r.token });
    }
    const before = await ask<{ rss: number }>('rss');
    await ask('reset-peak');
    const statuses = await Promise.all(tokens.map((t) => slowUpload(port, t.roundId, t.token)));
    const after = await ask<{ rss: number; peak: number }>('rss');
    const count = (s: number) => statuses.filter((x) => x === s).length;
    console.log(`RSS before ${(before.rss / MB).toFixed(0)} MB, peak ${(after.peak / MB).toFixed(0)} MB (+${((after.peak - before.rss) / MB).toFixed(0)}), after ${(after.rss / MB).toFixed(0)} MB; 503: ${count(503)}, 408: ${count(408)}`);
    expect(count(408)).toBeGreaterThanOrEqual(CONCURRENT - 5); // the stalled bodies that were being read
    expect(count(503) + count(408)).toBe(UPLOADS);
    // body bytes held: at most CONCURRENT pooled summaries (58 MB); the rest is sockets and parser state
    expect(after.peak - before.rss).toBeLessThan(CONCURRENT * SUMMARY + 64 * MB);
  }, 180_000);
});
