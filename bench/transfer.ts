// Bytes over the wire for a shopper's first and repeat visit to the demo storefront, served as
// `npm start` serves it (the built demo and the aggregator on one origin, compression on),
// with the default embed settings. Counted at the server's sockets: every byte of status
// line, headers and body it wrote per response (HTTP/1.1 on loopback, no TLS). Chromium's
// page-level Network events do not report a dedicated worker's requests, so they cannot be
// the count.
// the initial global model's weights are made with tfjs-core, which needs a backend in Node
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { flattenWeights } from '../federated/summary.ts';
import { SasRec } from '../models/sasrec.ts';
import { createAggregator } from '../server/aggregator.ts';
import { BROWSER_MODEL } from '../models/browser-model.ts';
import { serveStatic } from '../scripts/serve.ts';

export interface Transfer {
  url: string;
  status: number;
  bytes: number;
  encoding: string;
}

export interface Visit {
  total: number;
  byPart: Record<string, number>;
  responses: Transfer[];
}

/** What a response is part of, for the breakdown. */
export function partOf(url: string): string {
  if (url.startsWith('/fl/v1/model')) return 'global model';
  if (url.startsWith('/fl/v1/')) return 'popularity prior and other aggregator calls';
  if (url === '/silo.js' || /\/assets\/privacy-panel-/.test(url)) return 'SDK main thread (silo.js, panel)';
  if (/\.wasm$/.test(url) || /\/assets\/(profile\.worker|tfjs|backend|worker)/.test(url)) return 'worker, backends and WASM';
  if (url.startsWith('/catalog.json')) return 'catalog.json';
  if (url.startsWith('/img/')) return 'demo product images';
  return 'demo page (HTML, its script and CSS)';
}

/** How long the network must stay quiet before a visit counts as done. */
const QUIET_MS = 3000;

export async function measureTransfer(browser: Browser): Promise<{ first: Visit; repeat: Visit }> {
  const model = new SasRec(BROWSER_MODEL);
  const initialWeights = flattenWeights(await model.getWeights());
  model.dispose();
  const dataDir = mkdtempSync(join(tmpdir(), 'silo-bench-transfer-'));
  const aggregator = await createAggregator({ initialWeights, dataDir, bits: 8 });
  let log: Transfer[] = [];
  let lastActivity = Date.now();
  // first in line: notes each response's bytes on its socket, then lets the others answer
  const count = (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const before = socket.bytesWritten;
    lastActivity = Date.now();
    res.on('finish', () => {
      lastActivity = Date.now();
      const encoding = String(res.getHeader('content-encoding') ?? '');
      log.push({ url: req.url ?? '', status: res.statusCode, bytes: socket.bytesWritten - before, encoding });
    });
    return false;
  };
  const served = await serveStatic({ dir: 'dist', handlers: [count, (req, res) => aggregator.handle(req, res)] });
  await served.compressed;
  const context = await browser.newContext();
  try {
    const visit = async (): Promise<Visit> => {
      log = [];
      const page = await context.newPage();
      await page.goto(`${served.url}/`);
      await page.evaluate(() => window.silo.ready);
      while (Date.now() - lastActivity < QUIET_MS) await new Promise((r) => setTimeout(r, 250));
      await page.close();
      const byPart: Record<string, number> = {};
      for (const t of log) byPart[partOf(t.url)] = (byPart[partOf(t.url)] ?? 0) + t.bytes;
      return { total: log.reduce((s, t) => s + t.bytes, 0), byPart, responses: log };
    };
    const first = await visit();
    const repeat = await visit();
    return { first, repeat };
  } finally {
    await context.close();
    await served.close();
    await aggregator.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The two visits as Markdown tables (KB = 1,024 bytes). */
export function transferReport({ first, repeat }: { first: Visit; repeat: Visit }): string {
  const kb = (n: number) => (n / 1024).toFixed(1);
  const parts = [...new Set([...Object.keys(first.byPart), ...Object.keys(repeat.byPart)])].sort();
  const model = first.byPart['global model'] ?? 0;
  return [
    `first visit: ${kb(first.total)} KB over the wire (${kb(first.total - model)} KB without the global model); repeat visit: ${kb(repeat.total)} KB`,
    '| part | first visit (KB) | repeat visit (KB) |',
    '|---|---|---|',
    ...parts.map((p) => `| ${p} | ${kb(first.byPart[p] ?? 0)} | ${kb(repeat.byPart[p] ?? 0)} |`),
    `| **total** | **${kb(first.total)}** | **${kb(repeat.total)}** |`,
    '',
    '| first visit: response | status | encoding | bytes |',
    '|---|---|---|---|',
    ...first.responses.filter((t) => !t.url.startsWith('/img/')).map((t) => `| ${t.url} | ${t.status} | ${t.encoding || '—'} | ${t.bytes} |`),
  ].join('\n');
}
