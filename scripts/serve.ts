// A small static file server for the built demo (dist/), with room for the federated
// aggregator on the same origin, so the page talks to exactly one host. It serves only what
// lies inside its folder, compresses (brotli, gzip), lets browsers keep hashed assets for a
// year and revalidate the rest by ETag, sends the SDK's files with CORS as a CDN does, and
// puts the security headers a storefront would on every answer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { BadPath, chooseEncoding, FileCache, locate, type StaticFile } from './static-files.ts';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

/**
 * The demo's Content-Security-Policy: no inline script or style, no eval. WebAssembly needs
 * 'wasm-unsafe-eval'; the worker runs from 'self' (or a blob: shim when the SDK is on another
 * origin); the SDK creates its worker URL through the Trusted Types policy named `silo`.
 */
export const DEMO_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types silo',
].join('; ');

export interface StaticServerOptions {
  dir: string;
  port?: number;
  host?: string;
  /** tried first; returns true when it answered the request */
  handlers?: RequestHandler[];
  /** Content-Security-Policy sent with every answer (default DEMO_CSP; null sends none) */
  csp?: string | null;
}

/** Vite's content-hashed output (`assets/name-[hash].ext`, at any depth): never changes. */
const HASHED_ASSET = /(?:^|\/)assets\/[^/]+-[A-Za-z0-9_-]{8}\.[A-Za-z0-9]+$/;

function securityHeaders(res: ServerResponse, csp: string | null): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  if (csp) res.setHeader('Content-Security-Policy', csp);
}

function sendJson(res: ServerResponse, status: number, error: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...extra }).end(JSON.stringify({ error }));
}

/** True when one of the client's ETags names this file (any encoding of it). */
function notModified(req: IncomingMessage, file: StaticFile): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  const base = file.etag.slice(1, -1);
  return header.split(',').some((tag) => {
    const t = tag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
    return t === '*' || t === base || t.startsWith(`${base}-`);
  });
}

async function serveFile(req: IncomingMessage, res: ServerResponse, cache: FileCache, urlPath: string): Promise<void> {
  const path = await locate(cache.root, urlPath);
  if (!path) return sendJson(res, 404, 'not found');
  const file = await cache.get(path);
  const encoding = chooseEncoding(req.headers['accept-encoding'], file);
  const etag = encoding ? `"${file.etag.slice(1, -1)}-${encoding}"` : file.etag;
  const headers: Record<string, string | number> = {
    'content-type': file.type,
    'cache-control': HASHED_ASSET.test(urlPath) ? 'public, max-age=31536000, immutable' : 'no-cache',
    etag,
    vary: 'Accept-Encoding',
    // the SDK (silo.js, its worker, WASM, chunks) may be embedded from another origin, as from a CDN
    'access-control-allow-origin': '*',
    'cross-origin-resource-policy': 'cross-origin',
  };
  if (notModified(req, file)) {
    res.writeHead(304, headers).end();
    return;
  }
  const body = encoding ? file[encoding]! : file.raw;
  if (encoding) headers['content-encoding'] = encoding;
  headers['content-length'] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

export interface StaticServer {
  server: Server;
  url: string;
  /** resolves once every file is compressed (until then, files not yet done go out plain) */
  compressed: Promise<void>;
  close(): Promise<void>;
}

export async function serveStatic(options: StaticServerOptions): Promise<StaticServer> {
  const root = resolve(options.dir);
  const cache = new FileCache(root);
  const csp = options.csp === undefined ? DEMO_CSP : options.csp;
  // compress everything once now, in the background: the first visitor does not wait for it
  const compressed = cache.warm().catch(() => undefined);
  const server = createServer(async (req, res) => {
    try {
      securityHeaders(res, csp);
      for (const handle of options.handlers ?? []) if (await handle(req, res)) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
      let pathname: string;
      try {
        pathname = new URL(req.url ?? '/', 'http://x').pathname;
      } catch {
        return sendJson(res, 400, 'malformed URL');
      }
      await serveFile(req, res, cache, pathname);
    } catch (err) {
      if (err instanceof BadPath) return sendJson(res, 400, err.message);
      if (!res.headersSent) sendJson(res, 500, (err as Error).message);
      else res.end();
    }
  });
  await new Promise<void>((ok) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', ok));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    server,
    compressed,
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeIdleConnections();
        // a browser's keep-alive connections would hold close() open: cut them after a moment
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}
