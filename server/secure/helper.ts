// The helper aggregator's HTTP API (server/PROTOCOL.md, "Secure popularity rounds"):
//   GET  /dap/v1/hpke-config                       public (CORS *): shoppers seal to this key
//   POST /dap/v1/tasks/{taskId}/aggregate-init      leader only: verify and accumulate a batch
//   POST /dap/v1/tasks/{taskId}/aggregate-share     leader only: the noised aggregate share, once
// Leader requests carry `authorization: Bearer <token>`; anything else gets 401.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeAggShare, decodeAggShare } from '../../federated/vdaf/codec.ts';
import { type AggregatorKeyPair, encodeHpkeConfig } from '../../federated/secure/hpke.ts';
import { vdafOf } from '../../federated/secure/task.ts';
import { readBody } from '../http/body.ts';
import { HttpError, sendError, sendJson } from '../http/respond.ts';
import type { HelperStore, HelperTaskState } from './helper-state.ts';
import { helperVerify, Rejection } from './helper-verify.ts';
import { type AggregateInitRequest, type AggregateShareRequest, DAP_PREFIX, b64, hex, type InitResult, reportIdsChecksum, secureTaskOf, type TaskConfigMessage, unb64, verifyKeyOf } from './messages.ts';
import { addDiscreteGaussian, aggregatorSigma } from './noise.ts';

export interface HelperOptions {
  keys: AggregatorKeyPair;
  store: HelperStore;
  /** the bearer token the leader presents; also the secret the verify key is derived from */
  leaderToken: string;
  /** this helper's own privacy target for one release: its noise alone meets it */
  epsilon: number;
  delta: number;
  /** the least reports a share is released for */
  minReports: number;
  /** the longest vector and the most ones per report this helper will run a task for */
  maxLength: number;
  maxWeight: number;
}

const MAX_BATCH_BYTES = 32 * 1024 * 1024;

function authorise(req: IncomingMessage, token: string): void {
  const given = Buffer.from(req.headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new HttpError(401, 'leader requests need the bearer token set up with this helper');
}

async function readJson<T>(req: IncomingMessage): Promise<T> {
  const body = await readBody(req, { limit: MAX_BATCH_BYTES, timeoutMs: 60_000 });
  try {
    return JSON.parse(Buffer.from(body).toString('utf8')) as T;
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

export class HelperAggregator {
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly hpkeConfig: Uint8Array;

  constructor(private readonly o: HelperOptions) {
    this.hpkeConfig = encodeHpkeConfig(o.keys.config);
  }

  /** Handles /dap/v1/…; resolves false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith(DAP_PREFIX + '/')) return false;
    try {
      await this.route(req, res, url.pathname.slice(DAP_PREFIX.length));
    } catch (e) {
      sendError(res, e);
    }
    return true;
  }

  private async route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/hpke-config') {
      if (req.method !== 'GET') throw new HttpError(405, 'use GET', { allow: 'GET' });
      // public: shoppers' browsers fetch it cross-origin, without credentials
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'access-control-allow-origin': '*', 'cache-control': 'public, max-age=3600', 'content-length': String(this.hpkeConfig.length), 'x-content-type-options': 'nosniff' });
      res.end(this.hpkeConfig);
      return;
    }
    const m = /^\/tasks\/([A-Za-z0-9_-]{43})\/(aggregate-init|aggregate-share)$/.exec(path);
    if (!m) throw new HttpError(404, `no such endpoint: ${path}`);
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', { allow: 'POST' });
    authorise(req, this.o.leaderToken);
    const [, taskB64, op] = m;
    const taskHex = hex(unb64(taskB64));
    // one batch at a time per task: the state file is read, extended and replaced as a unit
    const run = async () => (op === 'aggregate-init' ? this.init(taskB64, taskHex, await readJson<AggregateInitRequest>(req)) : this.share(taskB64, taskHex, await readJson<AggregateShareRequest>(req)));
    const previous = this.queues.get(taskHex) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(run);
    this.queues.set(taskHex, next);
    try {
      sendJson(res, 200, await next);
    } finally {
      if (this.queues.get(taskHex) === next) this.queues.delete(taskHex);
    }
  }

  private checkConfig(taskB64: string, c: TaskConfigMessage | undefined): void {
    if (!c || c.taskId !== taskB64) throw new HttpError(400, 'body names another task than the path');
    const ints = [c.length, c.maxWeight, c.chunkLength].every((v) => Number.isInteger(v) && v >= 1);
    if (!ints || c.length > this.o.maxLength || c.maxWeight > this.o.maxWeight || c.maxWeight > c.length || c.chunkLength > c.length + 32) {
      throw new HttpError(400, `task parameters outside what this helper runs (length ≤ ${this.o.maxLength}, maxWeight ≤ ${this.o.maxWeight})`);
    }
  }

  /** The task's state; a task's parameters are fixed by the first batch the helper sees. */
  private stateOf(taskHex: string, config: TaskConfigMessage): HelperTaskState {
    const state = this.o.store.load(taskHex);
    if (!state) return { config, reports: {}, aggregateShare: b64(encodeAggShare(vdafOf(secureTaskOf(config)), vdafOf(secureTaskOf(config)).aggInit())) };
    if (JSON.stringify(state.config) !== JSON.stringify(config)) throw new HttpError(409, 'task parameters differ from those this task started with');
    return state;
  }

  private async init(taskB64: string, taskHex: string, body: AggregateInitRequest): Promise<{ results: InitResult[] }> {
    this.checkConfig(taskB64, body.task);
    if (!Array.isArray(body.reports)) throw new HttpError(400, 'reports must be an array');
    const state = this.stateOf(taskHex, body.task);
    if (state.released) throw new HttpError(409, 'this task\'s aggregate share was released: it takes no more reports');
    const task = secureTaskOf(body.task);
    const vdaf = vdafOf(task);
    const verifyKey = verifyKeyOf(this.o.leaderToken, task.taskId);
    const agg = decodeAggShare(vdaf, unb64(state.aggregateShare));
    const reports = { ...state.reports };
    const results: InitResult[] = [];
    for (const r of body.reports) {
      if (typeof r?.reportShare !== 'string' || typeof r.leaderVerifierShare !== 'string') throw new HttpError(400, 'each report needs reportShare and leaderVerifierShare');
      const share = unb64(r.reportShare);
      const leaderVerifierShare = unb64(r.leaderVerifierShare);
      const reportIdHex = share.length >= 16 ? hex(share.subarray(0, 16)) : '';
      const reportId = b64(Buffer.from(reportIdHex, 'hex'));
      const digest = createHash('sha256').update(share).update(leaderVerifierShare).digest('hex');
      const seen = reports[reportIdHex];
      if (seen) {
        // the same request again (a retried batch) gets the same answer; anything else reusing the id is a replay
        if (seen.digest === digest) results.push(seen.message ? { reportId, verifierMessage: seen.message } : { reportId, rejected: seen.rejected! });
        else results.push({ reportId, rejected: 'report_replayed' });
        continue;
      }
      try {
        const v = await helperVerify(task, this.o.keys, verifyKey, share, leaderVerifierShare);
        vdaf.aggUpdate(agg, v.outShare);
        reports[reportIdHex] = { digest, message: b64(v.message) };
        results.push({ reportId, verifierMessage: b64(v.message) });
      } catch (e) {
        if (!(e instanceof Rejection)) throw e;
        if (reportIdHex) reports[reportIdHex] = { digest, rejected: e.reason };
        results.push({ reportId, rejected: e.reason });
      }
    }
    // durable before the answer: a report the leader counts is one the helper has counted
    this.o.store.save(taskHex, { ...state, reports, aggregateShare: b64(encodeAggShare(vdaf, agg)) });
    return { results };
  }

  private async share(taskB64: string, taskHex: string, body: AggregateShareRequest): Promise<{ aggregateShare: string }> {
    this.checkConfig(taskB64, body.task);
    const state = this.o.store.load(taskHex);
    if (!state) throw new HttpError(404, 'this helper has no reports for that task');
    if (state.released) {
      const same = state.released.reportCount === body.reportCount && state.released.reportIdsChecksum === body.reportIdsChecksum;
      if (!same) throw new HttpError(409, 'this task\'s share was released for another batch; it is released only once');
      return { aggregateShare: state.released.aggregateShare };
    }
    const accepted = Object.entries(state.reports).filter(([, v]) => v.message).map(([id]) => id);
    if (body.reportCount !== accepted.length || body.reportIdsChecksum !== reportIdsChecksum(accepted)) {
      throw new HttpError(409, `batch mismatch: the helper accepted ${accepted.length} reports with another checksum`);
    }
    if (accepted.length < this.o.minReports) throw new HttpError(409, `${accepted.length} reports: this helper releases a share only for ${this.o.minReports} or more`);
    const task = secureTaskOf(state.config);
    const vdaf = vdafOf(task);
    const sigma = aggregatorSigma(this.o.epsilon, this.o.delta, state.config.maxWeight);
    const noised = addDiscreteGaussian(vdaf.field, decodeAggShare(vdaf, unb64(state.aggregateShare)), sigma);
    const released = { reportCount: body.reportCount, reportIdsChecksum: body.reportIdsChecksum, aggregateShare: b64(encodeAggShare(vdaf, noised)) };
    this.o.store.save(taskHex, { ...state, released });
    return { aggregateShare: released.aggregateShare };
  }
}
