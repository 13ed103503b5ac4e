// Sybil and cross-site limits at the aggregator's edge (server/PROTOCOL.md, "Abuse limits").
import { afterEach, describe, expect, it } from 'vitest';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { checkInTask, post, startServer, tempDir } from './harness.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const CLIENT = { 'content-type': 'application/json', 'x-silo-client': '1' };

describe('check-in', () => {
  it('refuses what a cross-site page can send without a preflight: text/plain, or JSON without the client header', async () => {
    const { base, agg } = await startServer(cleanups, { dir: tempDir(cleanups) });
    const plain = await post(base, '/fl/v1/checkin', '{}', { 'content-type': 'text/plain' });
    expect(plain.status).toBe(415);
    expect(plain.json.error).toMatch(/application\/json/);
    const form = await post(base, '/fl/v1/checkin', 'a=1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    const noHeader = await post(base, '/fl/v1/checkin', '{}', { 'content-type': 'application/json' });
    expect(noHeader.status).toBe(400);
    expect(noHeader.json.error).toMatch(/x-silo-client/);
    // none of them opened a round or took a task
    expect(agg.status().round).toBeNull();
    // the preflight a page would need for the header gets no CORS permission
    const preflight = await fetch(base + '/fl/v1/checkin', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-silo-client' } });
    expect(preflight.ok).toBe(false);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect((await post(base, '/fl/v1/checkin', '{}', CLIENT)).status).toBe(200);
  });

  it('one source gets at most one task per round, however often it checks in', async () => {
    // the attack: one client, 200 check-ins, against a round of 100 places
    const { base, agg } = await startServer(cleanups, {
      dir: tempDir(cleanups),
      maxParticipants: 100,
      edge: { tasksPerSourcePerRound: 1, checkInsPerMinute: 10_000, checkInBurst: 10_000, sourceOf: (req) => String(req.headers['x-test-source'] ?? req.socket.remoteAddress) },
    });
    let tasks = 0;
    for (let i = 0; i < 200; i++) {
      const r = await post(base, '/fl/v1/checkin', '{}', CLIENT);
      expect(r.status).toBe(200);
      if (r.json.status === 'task') tasks++;
    }
    expect(tasks).toBe(1);
    // other sources still get theirs
    for (const source of ['10.0.0.1', '10.0.0.2']) expect((await post(base, '/fl/v1/checkin', '{}', { ...CLIENT, 'x-test-source': source })).json.status).toBe('task');
    expect((await agg.fetchStatus()).round?.selected).toBe(3);
  });

  it('rate-limits check-ins per source with a token bucket, answering 429 with Retry-After', async () => {
    let now = Date.now();
    const { base } = await startServer(cleanups, { dir: tempDir(cleanups), clock: () => now, edge: { checkInsPerMinute: 6, checkInBurst: 3 } });
    for (let i = 0; i < 3; i++) expect((await post(base, '/fl/v1/checkin', '{}', CLIENT)).status).toBe(200);
    const limited = await post(base, '/fl/v1/checkin', '{}', CLIENT);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBe(10); // one token per 10 s
    now += 10_000;
    expect((await post(base, '/fl/v1/checkin', '{}', CLIENT)).status).toBe(200);
    expect((await post(base, '/fl/v1/checkin', '{}', CLIENT)).status).toBe(429);
  });

  it('the browser client sends the header and omits credentials', async () => {
    const { base } = await startServer(cleanups, { dir: tempDir(cleanups) });
    const seen: RequestInit[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(init ?? {});
      return realFetch(input, init);
    }) as typeof fetch;
    try {
      const client = new FederatedHttpClient(base);
      const { task, token } = await checkInTask(client);
      await client.downloadModel(task.modelVersion);
      await client.status();
      await expect(client.uploadSummary(task.roundId, token, new Uint8Array(8))).rejects.toThrow(/HTTP 400/);
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(seen).toHaveLength(4);
    for (const init of seen) expect(init.credentials).toBe('omit');
    expect((seen[0].headers as Record<string, string>)['x-silo-client']).toBe('1');
  });
});
