// HTTP answers: JSON bodies, and errors that carry their status.
import type { ServerResponse } from 'node:http';

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
}

/** Answers an error as JSON; a body that was refused unread closes the connection. */
export function sendError(res: ServerResponse, e: unknown): void {
  const status = e instanceof HttpError ? e.status : 500;
  const reason = e instanceof Error ? e.message : String(e);
  if (status === 500) console.error('aggregator:', e);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const close: Record<string, string> = status === 413 || status === 408 || status === 503 ? { connection: 'close' } : {};
  sendJson(res, status, { error: reason }, { ...close, ...(e instanceof HttpError ? e.headers : {}) });
}
