// Federated aggregation server: rounds, client selection, validated summary uploads,
// aggregation strategies, DP accounting and model versions. Protocol: server/PROTOCOL.md.
// Mount `handle` on any node:http server; it answers only paths under /fl/v1/.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RdpAccountant } from '../federated/accountant.ts';
import { API_PREFIX, type CheckInResponse, type RoundTask } from '../federated/protocol.ts';
import { decodeSummary, defaultScale, dequantize, HEADER_BYTES, l2Norm, secureRandom, SummaryFormatError, type ValueBits } from '../federated/summary.ts';
import { FileStore } from './file-store.ts';
import { ServerSgd, type ServerOptimizer } from './server-optimizers.ts';
import { type AggregationStrategy, type ClientSettings, DpFedAvg, type RoundAccumulator } from './strategies.ts';

export interface TrainingSettings {
  epochs: number;
  learningRate: number;
  batchSize: number;
  optimizer: 'sgd' | 'adam';
}

export interface AggregatorOptions {
  /** the model's flattened initial weights; used only when the data directory has no model yet */
  initialWeights: Float32Array;
  /** embedded store directory (default `.silo-data`) */
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
  /** current status, as GET /fl/v1/status returns it */
  status(): AggregatorStatus;
  /**
   * Operator action: end the open round now, as its deadline would (aggregate if it has
   * ≥ minParticipants accepted, else abandon). Returns true if a new model version resulted.
   */
  closeRoundNow(): boolean;
  close(): Promise<void>;
}

interface RoundState {
  id: number;
  modelVersion: number;
  task: RoundTask;
  settings: ClientSettings;
  /** the server-side bound on a decoded summary's norm: clip + rounding error + client noise */
  normBound: number;
  /** upload token → uploaded? */
  tokens: Record<string, boolean>;
}

interface PersistedState {
  modelVersion: number;
  nextRoundId: number;
  round: RoundState | null;
  strategy: unknown;
  accountant: ReturnType<RdpAccountant['toJSON']>;
  history: RoundRecord[];
}

interface RoundRecord {
  roundId: number;
  participants: number;
  newModelVersion: number;
  epsilonThisRound: number | null;
  epsilonTotal: number | null;
  clipNorm: number;
}

export interface AggregatorStatus {
  modelVersion: number;
  parameterCount: number;
  strategy: string;
  serverOptimizer: string;
  round: null | { id: number; modelVersion: number; selected: number; accepted: number; minParticipants: number; maxParticipants: number; deadline: number; clipNorm: number };
  privacy: { delta: number; epsilon: number | null; rounds: number; lastRoundEpsilon: number | null };
  history: RoundRecord[];
}

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

/** Reads the body, refusing (413) once it exceeds `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new HttpError(413, `body of ${declared} bytes exceeds the limit of ${limit}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, `body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(new Uint8Array(Buffer.concat(chunks)));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

export async function createAggregator(options: AggregatorOptions): Promise<Aggregator> {
  const store = new FileStore(options.dataDir ?? '.silo-data');
  const strategy = options.strategy ?? new DpFedAvg();
  const serverOptimizer = options.serverOptimizer ?? new ServerSgd(1);
  const minParticipants = options.minParticipants ?? 10;
  const maxParticipants = options.maxParticipants ?? 100;
  const roundDurationMs = options.roundDurationMs ?? 10 * 60_000;
  const selectionProbability = options.selectionProbability ?? 1;
  const training: TrainingSettings = { epochs: 1, learningRate: 1e-3, batchSize: 16, optimizer: 'adam', ...options.training };
  const bits: ValueBits = options.bits ?? 16;
  const delta = options.delta ?? 1e-5;
  const retryAfterSeconds = options.retryAfterSeconds ?? 60;
  const random = options.random ?? secureRandom();
  const length = options.initialWeights.length;
  if (minParticipants < 1 || maxParticipants < minParticipants) throw new Error('need 1 ≤ minParticipants ≤ maxParticipants');

  // ---- state: restored from disk when present ----
  const saved = store.readState<PersistedState>();
  let modelVersion: number;
  let weights: Float32Array;
  let nextRoundId: number;
  let round: RoundState | null = null;
  let accumulator: RoundAccumulator | null = null;
  let accountant: RdpAccountant;
  let history: RoundRecord[];
  const modelHashes = new Map<number, string>();

  if (saved) {
    modelVersion = saved.modelVersion;
    const bytes = store.readModel(modelVersion);
    if (!bytes) throw new Error(`data directory has no model v${modelVersion}`);
    weights = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (weights.length !== length) throw new Error(`stored model has ${weights.length} values, initialWeights ${length}: different model, use another dataDir`);
    nextRoundId = saved.nextRoundId;
    strategy.loadState(saved.strategy);
    accountant = RdpAccountant.fromJSON(saved.accountant);
    history = saved.history;
    if (saved.round) {
      round = saved.round;
      accumulator = strategy.begin(length, round.settings);
      // replay every acknowledged upload of the open round
      for (const { token, summary } of store.readSummaries(round.id)) {
        const decoded = decodeSummary(summary);
        accumulator.add(dequantize(decoded), decoded.withinClip);
        round.tokens[token] = true;
      }
    }
  } else {
    modelVersion = 1;
    weights = options.initialWeights.slice();
    store.writeModel(modelVersion, weights);
    nextRoundId = 1;
    accountant = new RdpAccountant();
    history = [];
  }

  function persist(): void {
    store.writeState({ modelVersion, nextRoundId, round, strategy: strategy.saveState(), accountant: accountant.toJSON(), history } satisfies PersistedState);
  }

  function modelSha256(version: number, bytes: Uint8Array): string {
    let h = modelHashes.get(version);
    if (!h) {
      h = createHash('sha256').update(bytes).digest('hex');
      modelHashes.set(version, h);
    }
    return h;
  }

  function openRound(now: number): RoundState {
    const settings = strategy.clientSettings(maxParticipants);
    const scale = defaultScale(settings.clipNorm, bits, settings.clientNoiseStd > 0 ? 2 : 1);
    const id = nextRoundId++;
    const task: RoundTask = {
      roundId: id,
      modelVersion,
      length,
      ...training,
      clipNorm: settings.clipNorm,
      clientNoiseStd: settings.clientNoiseStd,
      bits,
      scale,
      deadline: now + roundDurationMs,
    };
    const sqrtD = Math.sqrt(length);
    // triangle inequality: ‖clipped + noise + rounding‖ ≤ C + ‖noise‖ + √d/scale;
    // ‖noise‖ ≤ std·(√d + 6) except with negligible probability (χ concentration)
    const normBound = settings.clipNorm * (1 + 1e-4) + sqrtD / scale + (settings.clientNoiseStd > 0 ? settings.clientNoiseStd * (sqrtD + 6) : 0);
    round = { id, modelVersion, task, settings, normBound, tokens: {} };
    accumulator = strategy.begin(length, settings);
    persist();
    return round;
  }

  function closeRound(aggregate: boolean): void {
    if (!round || !accumulator) return;
    if (aggregate) {
      const outcome = strategy.finish(accumulator, random);
      serverOptimizer.apply(weights, outcome.update);
      modelVersion++;
      store.writeModel(modelVersion, weights);
      let epsRound: number | null = null;
      let epsTotal: number | null = null;
      if (outcome.noiseMultiplier !== null) {
        const one = new RdpAccountant(accountant.orders);
        one.step(selectionProbability, outcome.noiseMultiplier);
        epsRound = one.spent(delta).epsilon;
        accountant.step(selectionProbability, outcome.noiseMultiplier);
        epsTotal = accountant.spent(delta).epsilon;
      }
      history.push({ roundId: round.id, participants: accumulator.count, newModelVersion: modelVersion, epsilonThisRound: epsRound, epsilonTotal: epsTotal, clipNorm: round.settings.clipNorm });
    }
    round = null;
    accumulator = null;
    persist();
  }

  /** Closes the round if its deadline passed: aggregate with enough participants, else abandon (nothing released). */
  function tick(now: number): void {
    if (round && now >= round.task.deadline) closeRound(accumulator!.count >= minParticipants);
  }

  const timer = setInterval(() => tick(Date.now()), Math.min(1000, Math.max(50, roundDurationMs / 4)));
  timer.unref();

  function checkIn(now: number): CheckInResponse & { token?: string } {
    tick(now);
    const r = round ?? openRound(now);
    const selected = Object.keys(r.tokens).length;
    if (selected >= maxParticipants || random() >= selectionProbability) return { status: 'wait', retryAfterSeconds };
    const token = randomBytes(16).toString('hex');
    r.tokens[token] = false;
    persist();
    return { status: 'task', task: r.task, token };
  }

  function acceptSummary(roundId: number, token: string | undefined, body: Uint8Array, now: number): number {
    tick(now);
    if (!round || round.id !== roundId) throw new HttpError(409, `round ${roundId} is not open`);
    if (!token || !Object.hasOwn(round.tokens, token)) throw new HttpError(403, 'unknown upload token for this round');
    if (round.tokens[token]) throw new HttpError(409, 'this client already uploaded a summary in this round');
    let decoded;
    try {
      decoded = decodeSummary(body);
    } catch (e) {
      if (e instanceof SummaryFormatError) throw new HttpError(400, e.message);
      throw e;
    }
    const t = round.task;
    if (decoded.roundId !== round.id) throw new HttpError(400, `summary is for round ${decoded.roundId}, uploaded to round ${round.id}`);
    if (decoded.modelVersion !== t.modelVersion) throw new HttpError(409, `summary is relative to model v${decoded.modelVersion}, round uses v${t.modelVersion}`);
    if (decoded.length !== t.length) throw new HttpError(400, `summary has ${decoded.length} values, round expects ${t.length}`);
    if (decoded.bits !== t.bits) throw new HttpError(400, `summary uses ${decoded.bits}-bit values, round expects ${t.bits}`);
    if (Math.fround(t.scale) !== decoded.scale) throw new HttpError(400, `summary scale ${decoded.scale} differs from the round's ${t.scale}`);
    const values = dequantize(decoded);
    const norm = l2Norm(values);
    if (!Number.isFinite(norm)) throw new HttpError(400, 'summary contains non-finite values');
    if (norm > round.normBound) throw new HttpError(422, `update norm ${norm.toFixed(4)} exceeds the round's bound ${round.normBound.toFixed(4)}`);
    // durable first, then counted: an acknowledged update survives a crash
    store.appendSummary(round.id, token, body);
    round.tokens[token] = true;
    accumulator!.add(values, decoded.withinClip);
    const accepted = accumulator!.count;
    if (accepted >= maxParticipants) closeRound(true);
    return accepted;
  }

  function status(): AggregatorStatus {
    tick(Date.now());
    const last = history.length ? history[history.length - 1] : null;
    return {
      modelVersion,
      parameterCount: length,
      strategy: strategy.name,
      serverOptimizer: serverOptimizer.name,
      round: round && {
        id: round.id,
        modelVersion: round.modelVersion,
        selected: Object.keys(round.tokens).length,
        accepted: accumulator!.count,
        minParticipants,
        maxParticipants,
        deadline: round.task.deadline,
        clipNorm: round.settings.clipNorm,
      },
      privacy: {
        delta,
        epsilon: accountant.steps ? accountant.spent(delta).epsilon : history.length ? null : 0,
        rounds: accountant.steps,
        lastRoundEpsilon: last?.epsilonThisRound ?? null,
      },
      history,
    };
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    const now = Date.now();
    if (path === '/checkin') {
      if (method !== 'POST') throw new HttpError(405, 'use POST');
      await readBody(req, 4096); // no fields are defined for v1; the body is ignored
      sendJson(res, 200, checkIn(now));
      return;
    }
    if (path === '/status') {
      if (method !== 'GET') throw new HttpError(405, 'use GET');
      tick(now);
      sendJson(res, 200, status());
      return;
    }
    const model = /^\/model\/(latest|\d+)$/.exec(path);
    if (model) {
      if (method !== 'GET') throw new HttpError(405, 'use GET');
      const version = model[1] === 'latest' ? modelVersion : Number(model[1]);
      const bytes = store.readModel(version);
      if (!bytes) throw new HttpError(404, `no model version ${version}`);
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(bytes.length),
        'x-silo-model-version': String(version),
        'x-silo-sha256': modelSha256(version, bytes),
        'cache-control': model[1] === 'latest' ? 'no-store' : 'public, max-age=31536000, immutable',
      });
      res.end(bytes);
      return;
    }
    const upload = /^\/rounds\/(\d+)\/summary$/.exec(path);
    if (upload) {
      if (method !== 'POST') throw new HttpError(405, 'use POST');
      const limit = HEADER_BYTES + length * 4;
      const body = await readBody(req, limit);
      const token = req.headers['x-silo-token'];
      const accepted = acceptSummary(Number(upload[1]), typeof token === 'string' ? token : undefined, body, Date.now());
      sendJson(res, 202, { accepted: true, roundParticipants: accepted });
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
    status,
    closeRoundNow() {
      if (!round) return false;
      const enough = accumulator!.count >= minParticipants;
      closeRound(enough);
      return enough;
    },
    async close() {
      clearInterval(timer);
      store.close();
    },
  };
}
