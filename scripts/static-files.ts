// The static server's file layer: finds a request's file inside the served folder (never
// outside it, links included), and keeps each file's bytes with their brotli and gzip forms
// and an ETag, compressed once per file version rather than on every request.
import { createHash } from 'node:crypto';
import { readdir, realpath, readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.bin': 'application/octet-stream',
};

/** Types worth compressing: text, and WASM (which shrinks by about half). */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.map', '.svg', '.wasm', '.txt', '.bin']);

/** Smaller bodies go out as they are: the encoding headers would cost about what they save. */
const MIN_COMPRESS_BYTES = 512;

export interface StaticFile {
  path: string;
  type: string;
  raw: Buffer;
  br?: Buffer;
  gzip?: Buffer;
  /** strong validator of the raw bytes; the encoded forms get a suffix of their own */
  etag: string;
  mtimeMs: number;
  size: number;
}

export class BadPath extends Error {}

/**
 * The file a URL path names inside `root`, or null when there is none. Throws BadPath for a
 * path that is not valid percent-encoding or holds a NUL. The decoded path is resolved, and so
 * is every symlink on the way: what is served must really lie inside the root.
 */
export async function locate(root: string, urlPath: string): Promise<string | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    throw new BadPath('malformed percent-encoding in the URL');
  }
  if (decoded.includes('\0')) throw new BadPath('NUL in the URL');
  const inside = (p: string) => p === root || p.startsWith(root + sep);
  let file = resolve(root, `.${decoded.startsWith('/') ? '' : '/'}${decoded}`);
  if (!inside(file)) return null;
  try {
    if ((await stat(file)).isDirectory()) file = resolve(file, 'index.html');
    const real = await realpath(file);
    if (!inside(real) || !(await stat(real)).isFile()) return null;
    return real;
  } catch {
    return null;
  }
}

/**
 * The served files, read once and compressed once per version (checked against mtime and
 * size). Compression runs in the background, one file at a time, smallest first, so it never
 * takes every thread of libuv's pool (file reads wait there too); a request that comes before
 * its file is compressed gets the plain bytes.
 */
export class FileCache {
  private readonly files = new Map<string, Promise<StaticFile>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly root: string) {}

  async get(path: string): Promise<StaticFile> {
    const info = await stat(path);
    const cached = this.files.get(path);
    if (cached) {
      const file = await cached.catch(() => null);
      if (file && file.mtimeMs === info.mtimeMs && file.size === info.size) return file;
    }
    const loading = readFile(path).then((raw) => describe(path, raw, info.mtimeMs));
    this.files.set(path, loading);
    loading.then((file) => this.compressLater(file)).catch(() => this.files.delete(path));
    return loading;
  }

  /** Reads and compresses every file under the root; resolves when all are compressed. */
  async warm(): Promise<void> {
    const paths = await listFiles(this.root);
    const sizes = await Promise.all(paths.map(async (p) => ({ p, size: (await stat(p)).size })));
    for (const { p } of sizes.sort((a, b) => a.size - b.size)) await this.get(p).catch(() => undefined);
    await this.queue;
  }

  private compressLater(file: StaticFile): void {
    this.queue = this.queue.then(() => compress(file)).catch(() => undefined);
  }
}

function describe(path: string, raw: Buffer, mtimeMs: number): StaticFile {
  const etag = `"${createHash('sha256').update(raw).digest('base64url').slice(0, 22)}"`;
  return { path, type: CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream', raw, etag, mtimeMs, size: raw.length };
}

async function compress(file: StaticFile): Promise<void> {
  const { raw } = file;
  if (!COMPRESSIBLE.has(extname(file.path).toLowerCase()) || raw.length < MIN_COMPRESS_BYTES || file.br || file.gzip) return;
  const [br, gz] = await Promise.all([
    brotli(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length } }),
    gzipAsync(raw, { level: 9 }),
  ]);
  // keep an encoding only where it is smaller
  if (br.length < raw.length) file.br = br;
  if (gz.length < raw.length) file.gzip = gz;
}

/** The best encoding the client accepts: brotli, then gzip, else none (q=0 refuses). */
export function chooseEncoding(acceptEncoding: string | undefined, file: StaticFile): 'br' | 'gzip' | null {
  if (!acceptEncoding) return null;
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const weight = q ? Number(q.slice(2)) : 1;
    if (name) accepted.set(name, Number.isFinite(weight) ? weight : 0);
  }
  const weight = (name: string) => accepted.get(name) ?? accepted.get('*') ?? 0;
  if (file.br && weight('br') > 0) return 'br';
  if (file.gzip && weight('gzip') > 0) return 'gzip';
  return null;
}

/** Lists every file under `root` (for compressing at start-up). */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => resolve(e.parentPath, e.name));
}
