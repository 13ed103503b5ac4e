// A small route table: method + path pattern → handler. No library is installed for this,
// and the aggregator has five routes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './respond.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void>;

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];
  get(pattern: RegExp, handler: Handler): this {
    this.routes.push({ method: 'GET', pattern, handler });
    return this;
  }
  post(pattern: RegExp, handler: Handler): this {
    this.routes.push({ method: 'POST', pattern, handler });
    return this;
  }
  /** Runs the route for `path`; throws 404 (no such path) or 405 (path known, other method). */
  async dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let allowed: string | null = null;
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (route.method === (req.method ?? 'GET')) return route.handler(req, res, m.slice(1));
      allowed = route.method;
    }
    if (allowed) throw new HttpError(405, `use ${allowed}`, { allow: allowed });
    throw new HttpError(404, `no such endpoint: ${path}`);
  }
}
