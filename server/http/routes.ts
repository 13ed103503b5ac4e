// The aggregator's endpoints (server/PROTOCOL.md): check-in, status, model and popularity
// downloads, summary uploads.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Download } from '../downloads.ts';
import { requestedFormat, type ModelFormat } from '../model-formats.ts';
import type { Config } from '../options.ts';
import type { RoundScheduler } from '../rounds/scheduler.ts';
import type { StatusView } from '../status.ts';
import type { AggregatorStore } from '../store.ts';
import { type BodyPool, ConcurrencyGate, readBody } from './body.ts';
import { TokenBuckets } from './rate-limit.ts';
import { HttpError, sendJson } from './respond.ts';
import { Router } from './router.ts';
import { SecureLeader } from '../secure/leader.ts';
import { acceptReport } from '../secure/upload.ts';

/** The header a check-in must carry: a cross-site page cannot add it without a CORS preflight, which is refused. */
export const CLIENT_HEADER = 'x-silo-client';

export interface RouteDeps {
  config: Config;
  store: AggregatorStore;
  scheduler: RoundScheduler;
  status: StatusView;
  model: (version: number, format: ModelFormat) => Promise<Download | null>;
  popularity: (version: number) => Promise<Download | null>;
  bodies: BodyPool;
  maxBody: number;
}

/** Check-ins only as a same-origin JSON POST with the client header (415 / 400 otherwise). */
function requireClientRequest(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, 'check-in must be sent as application/json');
  if (req.headers[CLIENT_HEADER] !== '1') throw new HttpError(400, `check-in must carry the ${CLIENT_HEADER}: 1 header`);
}

function sendVector(req: IncomingMessage, res: ServerResponse, m: Download, headers: Record<string, string>, revalidate: boolean): void {
  const all = { 'x-silo-sha256': m.sha256, 'x-content-type-options': 'nosniff', ...headers };
  if (revalidate) {
    // 'no-cache' + ETag: the browser's HTTP cache keeps `latest` and an unchanged one costs a 304
    const etag = `"${m.sha256}"`;
    Object.assign(all, { etag });
    if (req.headers['if-none-match']?.split(',').some((tag) => tag.trim() === etag)) {
      res.writeHead(304, all);
      res.end();
      return;
    }
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(m.bytes.length), ...all });
  res.end(m.bytes);
}

export function aggregatorRoutes(d: RouteDeps): Router {
  const { config, store, scheduler, status } = d;
  const edge = config.edge;
  const checkIns = new TokenBuckets(edge.checkInsPerMinute, edge.checkInBurst, config.clock);
  const uploads = new ConcurrencyGate(edge.maxConcurrentUploads);
  const immutable = 'public, max-age=31536000, immutable';

  return new Router()
    .post(/^\/checkin$/, async (req, res) => {
      requireClientRequest(req);
      const source = edge.sourceOf(req);
      const wait = checkIns.take(source);
      if (wait > 0) throw new HttpError(429, `too many check-ins from this address; retry in ${wait} s`, { 'retry-after': String(wait) });
      await readBody(req, { limit: 4096, timeoutMs: edge.bodyTimeoutMs }); // no fields are defined for v1; the body is ignored
      sendJson(res, 200, await scheduler.checkIn(config.clock(), source));
    })
    .get(/^\/status$/, async (_req, res) => {
      await scheduler.settled();
      await scheduler.current(config.clock());
      sendJson(res, 200, status.publicView(await status.refresh()));
    })
    .get(/^\/model\/(latest|\d+)$/, async (req, res, [which]) => {
      if (which === 'latest') await scheduler.settled();
      const version = which === 'latest' ? (await store.readState()).modelVersion : Number(which);
      const format = requestedFormat(req.url);
      const m = await d.model(version, format);
      if (!m) throw new HttpError(404, `no model version ${version}`);
      sendVector(req, res, m, { 'x-silo-model-version': String(version), 'x-silo-model-format': format, 'cache-control': which === 'latest' ? 'no-store' : immutable }, false);
    })
    .get(/^\/popularity\/(latest|\d+)$/, async (req, res, [which]) => {
      if (which === 'latest') await scheduler.settled();
      const version = which === 'latest' ? ((await store.readState()).popularity?.version ?? 0) : Number(which);
      const m = version > 0 && config.popularity ? await d.popularity(version) : null;
      if (!m) throw new HttpError(404, version > 0 ? `no popularity release ${version}` : 'no popularity release yet');
      const headers = { 'x-silo-popularity-version': String(version), 'x-silo-popularity-weight': String(config.popularity!.weight), 'cache-control': which === 'latest' ? 'no-cache' : immutable };
      sendVector(req, res, m, headers, true);
    })
    .post(/^\/rounds\/(\d+)\/summary$/, async (req, res, [roundId]) => {
      await uploads.run(async () => {
        const body = await readBody(req, { limit: d.maxBody, timeoutMs: edge.bodyTimeoutMs, pool: d.bodies });
        const token = req.headers['x-silo-token'];
        try {
          // with a helper, popularity counts arrive only as sealed reports
          if (config.popularity?.secure && (await store.roundById(Number(roundId)))?.task.kind === 'popularity') throw new HttpError(409, `round ${roundId} takes sealed reports at /fl/v1/rounds/${roundId}/report`);
          await scheduler.accept(Number(roundId), typeof token === 'string' ? token : undefined, body, config.clock());
        } finally {
          d.bodies.give(body); // the store holds no reference once accept() settled
        }
      });
      // the participant count is not returned: with the round's q it would tell who took part
      sendJson(res, 202, { accepted: true });
    })
    .post(/^\/rounds\/(\d+)\/report$/, async (req, res, [roundId]) => {
      const leader = config.popularity?.secure;
      if (!leader) throw new HttpError(404, 'this aggregator runs no secure rounds (no helper configured)');
      await uploads.run(async () => {
        const body = await readBody(req, { limit: SecureLeader.maxReportBytes(config.popularity!.buckets, config.popularity!.maxItems), timeoutMs: edge.bodyTimeoutMs });
        const token = req.headers['x-silo-token'];
        await acceptReport({ config, store, scheduler, leader }, Number(roundId), typeof token === 'string' ? token : undefined, body);
      });
      sendJson(res, 202, { accepted: true });
    });
}
