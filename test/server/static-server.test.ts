// The demo's static server over loopback, attacked as a client would: escapes out of the
// served folder (encoded, raw, through a symlink), malformed URLs, and the headers, encodings
// and validators a browser relies on.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveStatic } from '../../scripts/serve.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request: the path goes on the wire exactly as given (no client-side normalising). */
function get(base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const { hostname, port } = new URL(base);
  return new Promise((ok, fail) => {
    const req = request({ hostname, port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end();
  });
}

let dir: string;
let served: Awaited<ReturnType<typeof serveStatic>>;
const SECRET = 'the-secret-of-a-sibling-folder';
const script = `export const silo = ${JSON.stringify('x'.repeat(4000))};\n`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'silo-static-'));
  const site = join(dir, 'dist');
  mkdirSync(join(site, 'assets'), { recursive: true });
  mkdirSync(join(dir, 'dist-private'));
  writeFileSync(join(dir, 'dist-private', 'secret.txt'), SECRET);
  writeFileSync(join(dir, 'outside.txt'), SECRET);
  writeFileSync(join(site, 'index.html'), `<!doctype html><title>shop</title>${'<p>hello</p>'.repeat(100)}`);
  writeFileSync(join(site, 'silo.js'), script);
  writeFileSync(join(site, 'assets', 'profile.worker-Ecy-JM3M.js'), script);
  writeFileSync(join(site, 'tiny.json'), '[]');
  symlinkSync(join(dir, 'outside.txt'), join(site, 'link.txt'));
  symlinkSync(join(dir, 'dist-private'), join(site, 'private-dir'));
  served = await serveStatic({ dir: site });
  await served.compressed;
});

afterAll(async () => {
  await served.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('paths', () => {
  it.each([
    '/..%2fdist-private%2fsecret.txt',
    '/%2e%2e%2fdist-private%2fsecret.txt',
    '/%2e%2e/dist-private/secret.txt',
    '/../dist-private/secret.txt',
    '/assets/..%2f..%2fdist-private%2fsecret.txt',
    '/..%2foutside.txt',
    '/link.txt',
    '/private-dir/secret.txt',
  ])('%s does not leave the served folder', async (path) => {
    const answer = await get(served.url, path);
    expect(answer.status).toBe(404);
    expect(answer.body.toString()).not.toContain(SECRET);
    expect(JSON.parse(answer.body.toString())).toEqual({ error: 'not found' });
  });

  it.each(['/%E0%A4%A', '/%', '/a%00b', '/%00'])('%s is a 400 with a JSON reason, not a 500', async (path) => {
    const answer = await get(served.url, path);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body.toString()).error).toMatch(/malformed|NUL/);
  });

  it('serves a folder as its index.html, and refuses other methods with 405', async () => {
    expect((await get(served.url, '/')).body.toString()).toContain('<title>shop</title>');
    const post = await get(served.url, '/silo.js', {}, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });
});

describe('headers', () => {
  it('sends nosniff, a CSP with frame-ancestors and a Referrer-Policy on every answer, errors included', async () => {
    for (const path of ['/', '/silo.js', '/missing', '/%']) {
      const { headers } = await get(served.url, path);
      expect(headers['x-content-type-options']).toBe('nosniff');
      expect(headers['referrer-policy']).toBe('no-referrer');
      expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(headers['content-security-policy']).toContain("style-src 'self'");
      expect(headers['content-security-policy']).not.toContain('unsafe-inline');
    }
  });

  it('serves the SDK with CORS, as a CDN does', async () => {
    const { headers } = await get(served.url, '/silo.js', { origin: 'http://shop.example' });
    expect(headers['access-control-allow-origin']).toBe('*');
    expect(headers['content-type']).toBe('text/javascript; charset=utf-8');
  });
});

describe('compression', () => {
  it('sends brotli or gzip by Accept-Encoding, and the bytes decode to the file', async () => {
    const br = await get(served.url, '/silo.js', { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toBe('Accept-Encoding');
    expect(br.body.length).toBeLessThan(script.length / 10);
    expect(brotliDecompressSync(br.body).toString()).toBe(script);

    const gz = await get(served.url, '/silo.js', { 'accept-encoding': 'br;q=0, gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).toString()).toBe(script);

    const plain = await get(served.url, '/silo.js');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.toString()).toBe(script);
    expect(Number(plain.headers['content-length'])).toBe(script.length);
  });

  it('sends a file plain while its compressed forms are not ready yet', async () => {
    const fresh = await serveStatic({ dir: join(dir, 'dist') });
    try {
      const first = await get(fresh.url, '/silo.js', { 'accept-encoding': 'br' });
      expect(first.status).toBe(200);
      expect(first.body.toString()).toBe(script);
      await fresh.compressed;
      expect((await get(fresh.url, '/silo.js', { 'accept-encoding': 'br' })).headers['content-encoding']).toBe('br');
    } finally {
      await fresh.close();
    }
  });

  it('leaves tiny files uncompressed, and HEAD sends the headers only', async () => {
    const tiny = await get(served.url, '/tiny.json', { 'accept-encoding': 'br' });
    expect(tiny.headers['content-encoding']).toBeUndefined();
    expect(tiny.body.toString()).toBe('[]');
    const head = await get(served.url, '/silo.js', { 'accept-encoding': 'br' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
  });
});

describe('caching', () => {
  it('marks hashed assets immutable for a year, at the root and under a sub-path', async () => {
    const asset = await get(served.url, '/assets/profile.worker-Ecy-JM3M.js');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('makes the rest revalidate, and answers a matching ETag with an empty 304', async () => {
    for (const encoding of ['br', 'gzip', 'identity']) {
      const first = await get(served.url, '/silo.js', { 'accept-encoding': encoding });
      expect(first.headers['cache-control']).toBe('no-cache');
      const etag = first.headers.etag as string;
      expect(etag).toMatch(/^".+"$/);
      const again = await get(served.url, '/silo.js', { 'accept-encoding': encoding, 'if-none-match': etag });
      expect(again.status).toBe(304);
      expect(again.body.length).toBe(0);
    }
    const stale = await get(served.url, '/silo.js', { 'if-none-match': '"not-this-one"' });
    expect(stale.status).toBe(200);
  });
});
