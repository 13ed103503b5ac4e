// Federated aggregation server: rounds, client selection, validated summary uploads,
// aggregation strategies, DP accounting and model versions. Protocol: server/PROTOCOL.md.
// Mount `handle` on any node:http server; it answers only paths under /fl/v1/.
// Written once against AggregatorStore (store.ts): the embedded FileStore (default) or a
// RedisStore that several instances share. Uploads are validated here and stored by the
// store atomically; the instance that wins the round close feeds the round's accepted
// uploads into the strategy (as the running sum this process kept, the instances' partial
// sums a shared store kept, or every stored summary for order statistics) and publishes
// the next model version.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RdpAccountant } from '../federated/accountant.ts';
import { API_PREFIX, type CheckInResponse, type RoundTask } from '../federated/protocol.ts';
import { defaultScale, HEADER_BYTES, secureRandom, SummaryFormatError, type ValueBits } from '../federated/summary.ts';
import { FileStore } from './file-store.ts';
import { ServerSgd, type ServerOptimizer } from './server-optimizers.ts';
import type { AggregatorStore, GlobalState, OpenRound, RoundRecord } from './store.ts';
import { type AggregationStrategy, DpFedAvg } from './strategies.ts';
import { RunningSum, sumOfSquares } from './running-sum.ts';
import { quantizedView } from './summary-view.ts';

export type { RoundRecord } from './store.ts';

export interface TrainingSettings {
  epochs: number;
  learningRate: number;
  batchSize: number;
  optimizer: 'sgd' | 'adam';
}

export interface AggregatorOptions {
  /** the model's flattened initial weights; used only when the store has no model yet */
  initialWeights: Float32Array;
  /** where state lives: default an embedded FileStore in `dataDir` */
  store?: AggregatorStore;
  /** embedded store directory (default `.silo-data`), when no `store` is given */
  dataDir?: string;
  /** default: DP-FedAvg with adaptive clipping, z = 1, central noise */
  strategy?: AggregationStrategy;
  /** default: plain FedAvg step (lr 1) */
  serverOptimizer?: ServerOptimizer;
  /** a round aggregates once maxParticipants summaries arrived, or at the deadline if ≥ minParticipants */
  minParticipants?: number;
  maxParticipants?: number;
  roundDurationMs?: number;
  /**
   * Poisson sampling: each check-in during an open round is selected with this probability
   * (until maxParticipants tasks are out). The accountant uses it as the sampling rate q,
   * which assumes each shopper checks in at most once per round.
   */
  selectionProbability?: number;
  training?: Partial<TrainingSettings>;
  bits?: ValueBits;
  /** δ for the reported (ε, δ) */
  delta?: number;
  /** how long a client that was not selected should wait */
  retryAfterSeconds?: number;
  random?: () => number;
}

export interface Aggregator {
  /** handles requests under /fl/v1/; resolves false (and touches nothing) for any other path */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * Status as this instance last saw it (exact for the embedded store; with a shared store
   * other instances' changes show after the next request or timer tick). GET /fl/v1/status
   * and fetchStatus() read the store.
   */
  status(): AggregatorStatus;
  fetchStatus(): Promise<AggregatorStatus>;
  /**
   * Operator action: end the open round now, as its deadline would (aggregate if it has
   * ≥ minParticipants accepted, else abandon). Resolves true if a new model version resulted.
   */
  closeRoundNow(): Promise<boolean>;
  close(): Promise<void>;
}

export interface AggregatorStatus {
  modelVersion: number;
  parameterCount: number;
  strategy: string;
  serverOptimizer: string;
  store: string;
  round: null | {
    id: number;
    modelVersion: number;
    selected: number;
    accepted: number;
    minParticipants: number;
    maxParticipants: number;
    deadline: number;
    clipNorm: number;
    closing: boolean;
  };
  privacy: { delta: number; epsilon: number | null; rounds: number; lastRoundEpsilon: number | null };
  history: RoundRecord[];
}

type AccountantJson = ReturnType<RdpAccountant['toJSON']>;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/**
 * Reusable upload buffers for the exact sizes of well-formed summaries: a 256 KB allocation
 * per upload is mostly garbage-collector work at hundreds of uploads a second.
 */
class BodyPool {
  private readonly free = new Map<number, Buffer[]>();
  constructor(private readonly sizes: Set<number>, private readonly keep = 32) {}
  take(size: number): Buffer | null {
    if (!this.sizes.has(size)) return null;
    return this.free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size); // own ArrayBuffer: word-aligned values
  }
  give(b: Uint8Array): void {
    if (!(b instanceof Buffer) || !this.sizes.has(b.length) || b.byteOffset !== 0) return;
    const list = this.free.get(b.length) ?? [];
    if (list.length < this.keep && !list.includes(b)) list.push(b);
    this.free.set(b.length, list);
  }
}

/** Reads the body (one copy), refusing (413) once it exceeds `limit` bytes; pooled when its declared size is a summary's. */
function readBody(req: IncomingMessage, limit: number, pool?: BodyPool): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new HttpError(413, `body of ${declared} bytes exceeds the limit of ${limit}`));
      return;
    }
    const target = Number.isFinite(declared) ? (pool?.take(declared) ?? null) : null;
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      if (size + chunk.length > limit || (target && size + chunk.length > target.length)) {
        failed = true;
        if (target) pool!.give(target);
        reject(new HttpError(413, `body exceeds the limit of ${limit} bytes`));
        return;
      }
      if (target) chunk.copy(target, size);
      else chunks.push(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      if (failed) return;
      if (target) {
        if (size === target.length) resolve(target);
        else {
          pool!.give(target);
          resolve(Buffer.from(target.subarray(0, size))); // shorter than declared: the decoder answers 400
        }
      } else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

const TOKEN = /^[0-9a-f]{32}$/;

export async function createAggregator(options: AggregatorOptions): Promise<Aggregator> {
  const store: AggregatorStore = options.store ?? new FileStore(options.dataDir ?? '.silo-data');
  const strategy = options.strategy ?? new DpFedAvg();
  const serverOptimizer = options.serverOptimizer ?? new ServerSgd(1);
  const minParticipants = options.minParticipants ?? 10;
  const maxParticipants = options.maxParticipants ?? 100;
  const roundDurationMs = options.roundDurationMs ?? 10 * 60_000;
  const selectionProbability = options.selectionProbability ?? 1;
  // Plain SGD on the client: a fresh Adam's first step moves every coordinate with any
  // gradient by ~±lr, so its deltas were mostly sign noise and federated training stayed at
  // chance (BENCHMARKS.md "Client SGD instead of a fresh Adam per client")
  const training: TrainingSettings = { epochs: 2, learningRate: 0.1, batchSize: 16, optimizer: 'sgd', ...options.training };
  const bits: ValueBits = options.bits ?? 16;
  const delta = options.delta ?? 1e-5;
  const retryAfterSeconds = options.retryAfterSeconds ?? 60;
  const random = options.random ?? secureRandom();
  const length = options.initialWeights.length;
  if (minParticipants < 1 || maxParticipants < minParticipants) throw new Error('need 1 ≤ minParticipants ≤ maxParticipants');

  const initial: GlobalState = { modelVersion: 1, strategy: strategy.saveState(), accountant: new RdpAccountant().toJSON(), history: [] };
  let state = await store.init(initial, options.initialWeights);
  {
    const model = await store.readModel(state.modelVersion);
    if (!model) throw new Error(`store has no model v${state.modelVersion}`);
    if (model.byteLength !== length * 4) throw new Error(`stored model has ${model.byteLength / 4} values, initialWeights ${length}: different model, use another store`);
  }
  strategy.loadState(state.strategy);

  // A strategy that needs only the sum lets the server keep running sums instead of every
  // summary. An exclusive store lets this process keep the round's whole running sum (one
  // pass per upload, nothing to re-read at close); a shared store (Redis: uploads land on
  // several instances) keeps one partial sum per instance and the closer adds them.
  // Order-statistic strategies: the closer streams the round's summaries from the store.
  if (strategy.needs === 'sum' && typeof strategy.begin(1, { clipNorm: 1, clientNoiseStd: 0 }).addPresummed !== 'function') throw new Error(`strategy ${strategy.name} declares needs 'sum' but its accumulator has no addPresummed`);
  const keepsSum = store.exclusive && strategy.needs === 'sum';
  let running: RunningSum | null = null;
  async function startRunningSum(round: OpenRound, replay: boolean): Promise<void> {
    if (!keepsSum || running?.roundId === round.id) return;
    const rs = new RunningSum(round.id, Math.fround(round.task.scale), length, maxParticipants, round.task.bits);
    running = rs; // set before any await, so concurrent check-ins share it
    if (replay) {
      // restart: every acknowledged upload of the open round back into the sum
      for await (const bytes of store.summaries(round.id)) {
        const v = quantizedView(bytes);
        rs.add(v.ints);
        rs.commit(v.withinClip);
      }
    }
    // the close compares rs.count with the store's count and re-reads the store if they differ
  }
  {
    const cur = await store.currentRound();
    if (cur) await startRunningSum(cur.round, true);
  }

  /** immutable model versions, with their SHA-256, for downloads */
  const modelCache = new Map<number, { bytes: Uint8Array; sha256: string }>();
  async function model(version: number): Promise<{ bytes: Uint8Array; sha256: string } | null> {
    let m = modelCache.get(version);
    if (!m) {
      const bytes = await store.readModel(version);
      if (!bytes) return null;
      m = { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
      if (modelCache.size >= 3) modelCache.delete(modelCache.keys().next().value!);
      modelCache.set(version, m);
    }
    return m;
  }

  // ---- status snapshot (sync `status()`), refreshed from the store ----
  let snapshot: AggregatorStatus;
  function build(st: GlobalState, cur: { round: OpenRound; closing: boolean } | null, counts: { selected: number; accepted: number }): AggregatorStatus {
    const accountant = RdpAccountant.fromJSON(st.accountant as AccountantJson);
    const last = st.history.length ? st.history[st.history.length - 1] : null;
    return {
      modelVersion: st.modelVersion,
      parameterCount: length,
      strategy: strategy.name,
      serverOptimizer: serverOptimizer.name,
      store: store.kind,
      round: cur && {
        id: cur.round.id,
        modelVersion: cur.round.modelVersion,
        selected: counts.selected,
        accepted: counts.accepted,
        minParticipants,
        maxParticipants,
        deadline: cur.round.task.deadline,
        clipNorm: cur.round.settings.clipNorm,
        closing: cur.closing,
      },
      privacy: {
        delta,
        epsilon: accountant.steps ? accountant.spent(delta).epsilon : st.history.length ? null : 0,
        rounds: accountant.steps,
        lastRoundEpsilon: last?.epsilonThisRound ?? null,
      },
      history: st.history,
    };
  }
  async function refresh(): Promise<AggregatorStatus> {
    state = await store.readState();
    const cur = await store.currentRound();
    snapshot = build(state, cur, cur ? await store.counts(cur.round.id) : { selected: 0, accepted: 0 });
    return snapshot;
  }
  await refresh();

  // ---- rounds ----
  async function openRound(now: number): Promise<OpenRound | null> {
    const st = await store.readState();
    strategy.loadState(st.strategy); // another instance may have adapted the clip norm
    const settings = strategy.clientSettings(maxParticipants);
    const scale = defaultScale(settings.clipNorm, bits, settings.clientNoiseStd > 0 ? 2 : 1);
    const sqrtD = Math.sqrt(length);
    // triangle inequality: ‖clipped + noise + rounding‖ ≤ C + ‖noise‖ + √d/scale;
    // ‖noise‖ ≤ std·(√d + 6) except with negligible probability (χ concentration)
    const normBound = settings.clipNorm * (1 + 1e-4) + sqrtD / scale + (settings.clientNoiseStd > 0 ? settings.clientNoiseStd * (sqrtD + 6) : 0);
    const round = await store.openRound((id) => {
      const task: RoundTask = {
        roundId: id,
        modelVersion: st.modelVersion,
        length,
        ...training,
        clipNorm: settings.clipNorm,
        clientNoiseStd: settings.clientNoiseStd,
        bits,
        scale,
        deadline: now + roundDurationMs,
      };
      return { id, modelVersion: st.modelVersion, task, settings, normBound, keep: strategy.needs, maxParticipants };
    });
    if (round) {
      await startRunningSum(round, false);
      await refresh();
    }
    return round;
  }

  /** The closer's work: stream the accepted summaries into the strategy, step, publish. Returns true if a model version resulted. */
  async function finishClose(roundId: number): Promise<boolean> {
    const cur = await store.currentRound();
    if (!cur || cur.round.id !== roundId) throw new Error(`round ${roundId} vanished while closing`);
    const round = cur.round;
    const st = await store.readState();
    strategy.loadState(st.strategy);
    const acc = strategy.begin(length, round.settings);
    const rs = running?.roundId === roundId ? running : null;
    if (rs) await rs.drained(); // uploads between their add and their durable write settle first
    if (rs && acc.addPresummed && rs.count === (await store.counts(roundId)).accepted) {
      if (rs.count) acc.addPresummed(rs.sum, rs.scale, rs.count, rs.withinClip);
    } else if (acc.addPresummed && round.keep === 'sum' && store.roundSum) {
      // a shared store's round: the instances' partial sums, added up (a few model-sized vectors)
      const total = await store.roundSum(roundId);
      if (total.count) acc.addPresummed(total.sum, Math.fround(round.task.scale), total.count, total.withinClip);
    } else if (acc.addPresummed) {
      // integer sum of the stored summaries (validated on upload), read a few at a time
      const sum = new RunningSum(roundId, Math.fround(round.task.scale), length, maxParticipants, round.task.bits);
      const scratch = new Uint8Array(HEADER_BYTES + length * 4);
      for await (const stored of store.summaries(roundId)) {
        // word-aligned values take the fast path; a copy into aligned scratch costs far less than the slow path
        const bytes = stored.byteOffset % 4 === 0 ? stored : scratch.subarray(0, stored.length);
        if (bytes !== stored) bytes.set(stored);
        const v = quantizedView(bytes);
        sum.add(v.ints);
        sum.commit(v.withinClip);
      }
      if (sum.count) acc.addPresummed(sum.sum, sum.scale, sum.count, sum.withinClip);
    } else {
      for await (const bytes of store.summaries(roundId)) {
        const s = quantizedView(bytes); // validated on upload
        acc.addQuantized(s.ints, s.scale, s.withinClip);
      }
    }
    if (acc.count < minParticipants) {
      await store.commitClose(roundId, st, null, null); // abandoned: nothing released, no privacy spent
      return false;
    }
    const bytes = await store.readModel(st.modelVersion);
    if (!bytes) throw new Error(`store has no model v${st.modelVersion}`);
    const weights = new Float32Array(length);
    new Uint8Array(weights.buffer).set(bytes);
    serverOptimizer.loadState(await store.readOptimizer(), length);
    const outcome = strategy.finish(acc, random);
    serverOptimizer.apply(weights, outcome.update, outcome.noiseStd);
    const accountant = RdpAccountant.fromJSON(st.accountant as AccountantJson);
    let epsRound: number | null = null;
    let epsTotal: number | null = null;
    if (outcome.noiseMultiplier !== null) {
      const one = new RdpAccountant(accountant.orders);
      one.step(selectionProbability, outcome.noiseMultiplier);
      epsRound = one.spent(delta).epsilon;
      accountant.step(selectionProbability, outcome.noiseMultiplier);
      epsTotal = accountant.spent(delta).epsilon;
    }
    const version = st.modelVersion + 1;
    const next: GlobalState = {
      modelVersion: version,
      strategy: strategy.saveState(),
      accountant: accountant.toJSON(),
      history: [...st.history, { roundId, participants: acc.count, newModelVersion: version, epsilonThisRound: epsRound, epsilonTotal: epsTotal, clipNorm: round.settings.clipNorm }],
    };
    await store.commitClose(roundId, next, weights, serverOptimizer.saveState());
    return true;
  }

  /**
   * Closes in progress in this process: "latest" model downloads and status wait for them,
   * so a client that saw its upload or an operator close answered gets the new version.
   */
  const closes = new Set<Promise<unknown>>();
  function tracked<T>(p: Promise<T>): Promise<T> {
    closes.add(p);
    const done = () => closes.delete(p);
    p.then(done, done);
    return p;
  }
  async function settledCloses(): Promise<void> {
    while (closes.size) await Promise.allSettled([...closes]);
  }

  /** Tries to become the round's closer; resolves true if this call produced a model version. */
  function closeRound(roundId: number): Promise<boolean> {
    return tracked(closeRoundUntracked(roundId));
  }
  async function closeRoundUntracked(roundId: number): Promise<boolean> {
    if (!(await store.claimClose(roundId))) return false;
    let produced: boolean;
    try {
      produced = await finishClose(roundId);
    } catch (e) {
      await store.abortClose(roundId).catch(() => {});
      throw e;
    }
    if (running?.roundId === roundId) running = null;
    await refresh();
    return produced;
  }

  /** The current round, after closing it if its deadline passed. */
  async function current(now: number): Promise<{ round: OpenRound; closing: boolean } | null> {
    let cur = await store.currentRound();
    if (cur && !cur.closing && now >= cur.round.task.deadline) {
      await closeRound(cur.round.id);
      cur = await store.currentRound();
    }
    return cur;
  }

  const bodies = new BodyPool(new Set([1, 2, 4].map((b) => HEADER_BYTES + length * b)));

  let closed = false;
  let ticking = false;
  const timer = setInterval(() => {
    if (ticking || closed) return;
    ticking = true;
    void (async () => {
      const cur = await current(Date.now());
      // a closer that crashed leaves its round "closing": take it over once its lease expired
      if (cur?.closing) await closeRound(cur.round.id);
      else await refresh();
    })()
      .catch((e: unknown) => {
        if (!closed) console.error('aggregator tick:', e);
      })
      .finally(() => (ticking = false));
  }, Math.min(1000, Math.max(50, roundDurationMs / 4)));
  timer.unref();

  async function checkIn(now: number): Promise<CheckInResponse & { token?: string }> {
    const cur = await current(now);
    const round = cur ? (cur.closing ? null : cur.round) : await openRound(now);
    const wait = { status: 'wait' as const, retryAfterSeconds };
    if (!round || random() >= selectionProbability) return wait;
    const token = randomBytes(16).toString('hex');
    if (!(await store.issueToken(round.id, token, maxParticipants))) return wait;
    if (snapshot.round?.id === round.id) snapshot.round.selected++;
    return { status: 'task', task: round.task, token };
  }

  /** Checks the header against the round; throws HttpError 400/409. */
  function checkHeader(body: Uint8Array, round: OpenRound): ReturnType<typeof quantizedView> {
    let s;
    try {
      s = quantizedView(body);
    } catch (e) {
      if (e instanceof SummaryFormatError) throw new HttpError(400, e.message);
      throw e;
    }
    const t = round.task;
    if (s.roundId !== round.id) throw new HttpError(400, `summary is for round ${s.roundId}, uploaded to round ${round.id}`);
    if (s.modelVersion !== t.modelVersion) throw new HttpError(409, `summary is relative to model v${s.modelVersion}, round uses v${t.modelVersion}`);
    if (s.length !== t.length) throw new HttpError(400, `summary has ${s.length} values, round expects ${t.length}`);
    if (s.bits !== t.bits) throw new HttpError(400, `summary uses ${s.bits}-bit values, round expects ${t.bits}`);
    if (Math.fround(t.scale) !== s.scale) throw new HttpError(400, `summary scale ${s.scale} differs from the round's ${t.scale}`);
    return s;
  }

  /** Throws 422 when the decoded L2 norm √(Σq²)/scale (exact in the integer domain) is above the round's bound. */
  function checkNorm(sumSq: number, scale: number, round: OpenRound): void {
    const norm = Math.sqrt(sumSq) / scale;
    if (!Number.isFinite(norm)) throw new HttpError(400, 'summary contains non-finite values');
    if (norm > round.normBound) throw new HttpError(422, `update norm ${norm.toFixed(4)} exceeds the round's bound ${round.normBound.toFixed(4)}`);
  }

  async function acceptSummary(roundId: number, token: string | undefined, body: Uint8Array, now: number): Promise<number> {
    // the round as last seen (a shared store answers from its cache: no round trip per
    // upload); whether it is still open is checked atomically by store.accept
    const round = await store.roundById(roundId);
    if (round && now >= round.task.deadline) await current(now); // closes it
    if (!round || now >= round.task.deadline) throw new HttpError(409, `round ${roundId} is not open`);
    if (!token || !TOKEN.test(token)) throw new HttpError(403, 'unknown upload token for this round');
    const s = checkHeader(body, round);
    // one pass over the values: into the running sum (kept here, or by a store that sums
    // the round itself and then runs the norm check) while the norm is computed
    const rs = running?.roundId === roundId ? running : null;
    const values = { ints: s.ints, withinClip: s.withinClip, checkNorm: (sumSq: number) => checkNorm(sumSq, s.scale, round) };
    let r;
    try {
      if (!store.sumsRound?.(round)) values.checkNorm(rs ? rs.add(s.ints) : sumOfSquares(s.ints));
      // atomic in the store: open round, issued unused token → spent + durably stored
      r = await store.accept(roundId, token, body, values);
    } catch (e) {
      rs?.undo(s.ints);
      throw e;
    }
    if (r.ok) rs?.commit(s.withinClip);
    else rs?.undo(s.ints);
    if (!r.ok) {
      if (r.reason === 'not-open') throw new HttpError(409, `round ${roundId} is not open`);
      if (r.reason === 'unknown-token') throw new HttpError(403, 'unknown upload token for this round');
      throw new HttpError(409, 'this client already uploaded a summary in this round');
    }
    if (snapshot.round?.id === roundId) snapshot.round.accepted = Math.max(snapshot.round.accepted, r.accepted);
    if (r.accepted >= maxParticipants) await closeRound(roundId);
    return r.accepted;
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (path === '/checkin') {
      if (method !== 'POST') throw new HttpError(405, 'use POST');
      await readBody(req, 4096); // no fields are defined for v1; the body is ignored
      sendJson(res, 200, await checkIn(Date.now()));
      return;
    }
    if (path === '/status') {
      if (method !== 'GET') throw new HttpError(405, 'use GET');
      await settledCloses();
      await current(Date.now());
      sendJson(res, 200, await refresh());
      return;
    }
    const modelPath = /^\/model\/(latest|\d+)$/.exec(path);
    if (modelPath) {
      if (method !== 'GET') throw new HttpError(405, 'use GET');
      if (modelPath[1] === 'latest') await settledCloses();
      const version = modelPath[1] === 'latest' ? (await store.readState()).modelVersion : Number(modelPath[1]);
      const m = await model(version);
      if (!m) throw new HttpError(404, `no model version ${version}`);
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(m.bytes.length),
        'x-silo-model-version': String(version),
        'x-silo-sha256': m.sha256,
        'cache-control': modelPath[1] === 'latest' ? 'no-store' : 'public, max-age=31536000, immutable',
      });
      res.end(m.bytes);
      return;
    }
    const upload = /^\/rounds\/(\d+)\/summary$/.exec(path);
    if (upload) {
      if (method !== 'POST') throw new HttpError(405, 'use POST');
      const body = await readBody(req, HEADER_BYTES + length * 4, bodies);
      const token = req.headers['x-silo-token'];
      try {
        const accepted = await acceptSummary(Number(upload[1]), typeof token === 'string' ? token : undefined, body, Date.now());
        sendJson(res, 202, { accepted: true, roundParticipants: accepted });
      } finally {
        bodies.give(body); // the store holds no reference once accept() settled
      }
      return;
    }
    throw new HttpError(404, `no such endpoint: ${path}`);
  }

  return {
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== API_PREFIX && !url.pathname.startsWith(API_PREFIX + '/')) return false;
      try {
        await route(req, res, url.pathname.slice(API_PREFIX.length));
      } catch (e) {
        const status = e instanceof HttpError ? e.status : 500;
        const reason = e instanceof Error ? e.message : String(e);
        if (!res.headersSent) sendJson(res, status, { error: reason }, status === 413 ? { connection: 'close' } : {});
        else res.destroy();
      }
      return true;
    },
    status: () => snapshot,
    fetchStatus: async () => {
      await current(Date.now());
      return refresh();
    },
    closeRoundNow() {
      return tracked(
        (async () => {
          const cur = await store.currentRound();
          return cur ? closeRound(cur.round.id) : false;
        })(),
      );
    },
    async close() {
      closed = true;
      clearInterval(timer);
      while (ticking) await new Promise((r) => setTimeout(r, 5));
      await store.close();
    },
  };
}
