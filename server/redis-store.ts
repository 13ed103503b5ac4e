// Shared store: several aggregator instances on one Redis serve one round together.
// Every change to a round is one Lua script (Redis runs scripts atomically), so two
// instances can never both spend a token, both count a summary, or both close a round.
// Keys (prefix default "silo:"):
//   state              GlobalState JSON (model version, strategy state, ledger, history)
//   model:<v>          model version v, little-endian float32
//   popularity:<v>     popularity release v (noised counts per bucket), little-endian float32
//   optimizer          server-optimiser state for the current model version
//   next-round         id the next round opens with
//   current            id of the open round (absent when none is open)
//   closing            id of the round being closed; close-lock: its closer (expires, so a
//                      crashed closer's round can be taken over by another instance)
//   round:<id>         OpenRound JSON; round:<id>:tokens hash token → 0 issued / 1 used
// What a round keeps of its uploads depends on its strategy (OpenRound.keep):
//   'sum' (FedAvg, DP-FedAvg): each instance keeps a running integer sum of the uploads it
//     accepted and stores it, cumulative, in round:<id>:partials (hash instance → sum bytes,
//     little-endian int32, or float64 where int32 could overflow) with its count and
//     within-clip count in round:<id>:partial-counts (instance → "count within") and the
//     round's total in round:<id>:accepted. Redis holds one model-sized vector per instance
//     (per instance process that served the round), whatever the number of clients; the
//     closer adds those few vectors.
//   'summaries' (trimmed mean, median): round:<id>:summaries, a list of every accepted
//     summary, streamed by the closer; Redis memory grows with the cohort, as the
//     order statistics need every value.
// Copies: the partial sums and counts, and the kept summaries, are written twice by the same
// script (round:<id>:partials-copy, partial-counts-copy, summaries-copy; store/redis-copies.ts):
// a record damaged in one copy is read from, and at start restored from, the other.
// Group commit ('sum' rounds, store/redis-group-commit.ts): uploads that arrive while this
// instance's previous commit is in flight are committed together by ONE script, then answered.
// Integrity (integrity-redis.ts): `state` is sealed with a SHA-256 and records the chunk
// checksums of every model, popularity release and optimiser blob it names; each partial sum's
// CRC-32 is kept with its counts (which carry their own) and each kept summary carries one. At
// start an instance checks them, and the ledger against the model history, and refuses to start
// on damage that no copy makes up for; on
// an empty key prefix it initialises, but keys without `state` (a lost ledger) stop it.
// Durability: an upload is acknowledged once its script has run, i.e. once Redis holds it.
// A crashed instance loses only uploads it had not acknowledged; its stored partial stays
// and is counted. For the embedded store's guarantee across a Redis crash run Redis with
// `appendonly yes` and `appendfsync always` (Redis then fsyncs before it replies, one fsync
// per event-loop turn: group commit).
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { manifestOfRedis, noStateRedisRefusal, parseRedisState, redisProblems, redisRefusal, type RedisState, scanKeys, sealSummary } from './integrity-redis.ts';
import { describeBlob, sealJson, StoreIntegrityError, verifyBlob } from './integrity.ts';
import { bytes, GroupCommit, type Arg } from './store/redis-group-commit.ts';
import { readPartials, readSummaries } from './store/redis-copies.ts';
import { SCRIPTS } from './store/redis-scripts.ts';
import type { AcceptResult, AggregatorStore, GlobalState, OpenRound, RoundSum, UploadValues } from './store.ts';

type ScriptName = keyof typeof SCRIPTS;

export interface RedisStoreOptions {
  /** key prefix, so several deployments can share one Redis (default "silo:") */
  prefix?: string;
  /** how long a closer may hold a round before another instance may take it over */
  closeLeaseMs?: number;
}


export class RedisStore implements AggregatorStore {
  readonly exclusive = false;
  readonly kind = 'redis';
  readonly redis: Redis;
  private readonly prefix: string;
  private readonly owner = randomBytes(12).toString('hex');
  private readonly leaseMs: number;
  private readonly rounds = new Map<number, OpenRound>();
  private readonly group: GroupCommit;

  constructor(url: string, options: RedisStoreOptions = {}) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
    // Without a listener ioredis prints every failed reconnect as an "Unhandled error event".
    // The requests that fail reject on their own (and answer 5xx); one line per outage is enough.
    let outage = false;
    this.redis.on('error', (e: Error) => {
      if (!outage) console.error(`redis store: ${e.message}; reconnecting`);
      outage = true;
    });
    this.redis.on('ready', () => {
      outage = false;
    });
    for (const [name, def] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, def);
    this.prefix = options.prefix ?? 'silo:';
    this.leaseMs = options.closeLeaseMs ?? 120_000;
    this.group = new GroupCommit((name, ...args) => this.script(name, ...args), (...parts) => this.k(...parts), this.owner);
  }

  private k(...parts: (string | number)[]): string {
    return this.prefix + parts.join(':');
  }

  private script(name: ScriptName, ...args: Arg[]): Promise<unknown> {
    return (this.redis as unknown as Record<ScriptName, (...a: Arg[]) => Promise<unknown>>)[name](...args);
  }

  /**
   * Initialises an empty key prefix; otherwise checks the stored state against itself and the
   * keys (refusing to start on damage, a lost state or a ledger that disagrees with the model
   * history). A state written before checksums gets them here, for the blobs present.
   */
  async init(state: GlobalState, weights: Float32Array): Promise<GlobalState> {
    if ((await this.redis.exists(this.k('state'))) === 0) {
      const found = await scanKeys(this.redis, this.prefix, '*', 20);
      const model = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
      const fresh = sealJson({ state, files: { [`model:${state.modelVersion}`]: describeBlob(model) } });
      const r = found.length ? -1 : Number(await this.script('siloInit', this.k('state'), this.k('model', state.modelVersion), this.k('next-round'), this.k('current'), this.k('closing'), fresh, bytes(model)));
      // (keys found: another instance may just have initialised the prefix)
      if (r === -1 && (await this.redis.exists(this.k('state'))) === 0) throw new StoreIntegrityError(noStateRedisRefusal(this.prefix, found.length ? found : await scanKeys(this.redis, this.prefix, '*', 20)));
    }
    for (let attempt = 1; ; attempt++) {
      let text = (await this.redis.get(this.k('state')))!;
      let stored = parseRedisState(this.k('state'), text);
      while (!stored.files) {
        const sealed = sealJson({ state: stored.state, files: await manifestOfRedis(this.redis, this.prefix, stored.state) });
        if (Number(await this.script('siloReplaceState', this.k('state'), text, sealed))) text = sealed;
        else text = (await this.redis.get(this.k('state')))!; // another instance wrote it meanwhile
        stored = parseRedisState(this.k('state'), text);
      }
      const problems = await redisProblems(this.redis, this.prefix, { state: stored.state, files: stored.files });
      if (!problems.length) return stored.state;
      // another instance committed a close while this one checked: check the new state
      if (attempt < 5 && (await this.redis.get(this.k('state'))) !== text) continue;
      throw new StoreIntegrityError(redisRefusal(this.prefix, problems));
    }
  }

  private async readStored(): Promise<RedisState> {
    const text = await this.redis.get(this.k('state'));
    if (!text) throw new StoreIntegrityError(`Redis has no ${this.k('state')}: the store was not initialised, or its state was lost`);
    return parseRedisState(this.k('state'), text);
  }

  async readState(): Promise<GlobalState> {
    return (await this.readStored()).state;
  }

  /** a blob the state names, checked against its checksums (null: the state names none such) */
  private async readBlob(name: string): Promise<Uint8Array | null> {
    const { files } = await this.readStored();
    const entry = files?.[name];
    if (files && !entry) return null; // not committed (a release whose close has not finished)
    const b = await this.redis.getBuffer(this.prefix + name);
    if (b && entry) verifyBlob(this.prefix + name, b, entry);
    return b;
  }

  async readModel(version: number): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(version) || version < 1) return null;
    return this.readBlob(`model:${version}`);
  }

  async readPopularity(version: number): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(version) || version < 1) return null;
    return this.readBlob(`popularity:${version}`);
  }

  async writePopularity(version: number, counts: Float32Array): Promise<void> {
    await this.redis.set(this.k('popularity', version), bytes(new Uint8Array(counts.buffer, counts.byteOffset, counts.byteLength)));
  }

  async readOptimizer(): Promise<Uint8Array | null> {
    return this.readBlob('optimizer');
  }

  async roundById(id: number): Promise<OpenRound | null> {
    let r = this.rounds.get(id);
    if (!r) {
      const text = await this.redis.get(this.k('round', id));
      if (!text) return null;
      r = JSON.parse(text) as OpenRound;
      this.rounds.clear(); // only the latest round is ever needed
      this.rounds.set(id, r);
    }
    return r;
  }

  async currentRound(): Promise<{ round: OpenRound; closing: boolean } | null> {
    const [current, closing] = await this.redis.mget(this.k('current'), this.k('closing'));
    const id = current ?? closing;
    if (id === null) return null;
    const round = await this.roundById(Number(id));
    return round && { round, closing: current === null };
  }

  async openRound(make: (id: number) => OpenRound): Promise<OpenRound | null> {
    for (;;) {
      const id = Number(await this.redis.get(this.k('next-round')));
      const round = make(id);
      const r = String(await this.script('siloOpen', this.k('current'), this.k('closing'), this.k('next-round'), this.k('round', id), String(id), JSON.stringify(round)));
      if (r === 'closing') return null;
      if (r === 'stale') continue; // another instance opened (and closed) a round meanwhile
      if (Number(r) === id) {
        this.rounds.clear();
        this.rounds.set(id, round);
        return round;
      }
      return this.roundById(Number(r));
    }
  }

  async issueToken(roundId: number, token: string, max: number): Promise<number> {
    return Number(await this.script('siloIssue', this.k('current'), this.k('round', roundId, 'tokens'), String(roundId), token, String(max)));
  }

  async counts(roundId: number): Promise<{ selected: number; accepted: number }> {
    const round = await this.roundById(roundId);
    const tx = this.redis.multi().hlen(this.k('round', roundId, 'tokens'));
    if (round?.keep === 'sum') tx.get(this.k('round', roundId, 'accepted'));
    else tx.llen(this.k('round', roundId, 'summaries'));
    const [[, selected], [, accepted]] = (await tx.exec()) as [unknown, number | string | null][];
    return { selected: Number(selected), accepted: Number(accepted ?? 0) };
  }

  async accept(roundId: number, token: string, summary: Uint8Array, values: UploadValues): Promise<AcceptResult> {
    const round = await this.roundById(roundId);
    if (round?.keep !== 'sum') {
      // every summary kept (or no such round: the script answers "not open")
      const n = Number(await this.script('siloAccept', this.k('current'), this.k('round', roundId, 'tokens'), this.k('round', roundId, 'summaries'), this.k('round', roundId, 'summaries-copy'), String(roundId), token, sealSummary(summary)));
      if (n > 0) return { ok: true, accepted: n };
      return { ok: false, reason: n === -1 ? 'not-open' : n === -2 ? 'unknown-token' : 'duplicate' };
    }
    return this.group.enqueue(round, token, values) ?? { ok: false, reason: 'not-open' };
  }

  sumsRound(round: OpenRound): boolean {
    return round.keep === 'sum';
  }

  /** group-commit counters of 'sum' rounds: uploads committed and scripts run */
  commitStats(): { uploads: number; scripts: number } {
    return { ...this.group.commits };
  }

  async roundSum(roundId: number): Promise<RoundSum> {
    const round = await this.roundById(roundId);
    if (!round) throw new Error(`round ${roundId} vanished while closing`);
    const length = round.task.length;
    const out: RoundSum = { sum: new Float64Array(length), count: 0, withinClip: 0 };
    // each instance's partial from a copy that holds it intact
    const { partials, damage } = await readPartials(this.redis, this.prefix, roundId);
    if (damage.length) throw new StoreIntegrityError(`round ${roundId}: ${damage.map((d) => d.message).join('; ')}; the round's sum cannot be trusted`);
    for (const [instance, { count, within, sum: stored }] of partials) {
      const aligned = stored.byteOffset % 8 === 0 ? stored : new Uint8Array(stored); // typed views need alignment
      const part = stored.length === length * 4 ? new Int32Array(aligned.buffer, aligned.byteOffset, length) : stored.length === length * 8 ? new Float64Array(aligned.buffer, aligned.byteOffset, length) : null;
      if (!part) throw new Error(`round ${roundId}: partial sum of instance ${instance} has ${stored.length} bytes for ${length} values`);
      const s = out.sum;
      for (let i = 0; i < length; i++) s[i] += part[i]; // integers: exact in float64
      out.count += count;
      out.withinClip += within;
    }
    const accepted = Number((await this.redis.get(this.k('round', roundId, 'accepted'))) ?? 0);
    if (accepted !== out.count) throw new Error(`round ${roundId}: partial sums count ${out.count} uploads, the round ${accepted}`);
    return out;
  }

  async claimClose(roundId: number): Promise<boolean> {
    // after this script no accept script for the round can succeed; everything accepted is in the list
    return (await this.script('siloClaim', this.k('current'), this.k('closing'), this.k('close-lock'), String(roundId), this.owner, String(this.leaseMs))) === 1;
  }

  /** the kept summaries, each from a list that holds it intact (redis-copies.ts) */
  summaries(roundId: number): AsyncIterable<Uint8Array> {
    return readSummaries(this.redis, this.prefix, roundId);
  }

  /** the state to commit: `next` with the checksums of the blobs it names */
  private async sealedNext(next: GlobalState, model: Uint8Array | null, optimizer: Uint8Array | null): Promise<string> {
    const files = { ...((await this.readStored()).files ?? {}) };
    if (model) {
      files[`model:${next.modelVersion}`] = describeBlob(model);
      if (optimizer) files.optimizer = describeBlob(optimizer);
      else delete files.optimizer;
    }
    const release = next.popularity?.version ? `popularity:${next.popularity.version}` : null;
    if (release && !files[release]) {
      const b = await this.redis.getBuffer(this.prefix + release);
      if (!b) throw new Error(`${this.prefix}${release} was not written before its close`);
      files[release] = describeBlob(b);
    }
    return sealJson({ state: next, files });
  }

  async commitClose(roundId: number, next: GlobalState, model: Float32Array | null, optimizer: Uint8Array | null): Promise<void> {
    const modelBytes = model && new Uint8Array(model.buffer, model.byteOffset, model.byteLength);
    const sealed = await this.sealedNext(next, modelBytes, optimizer);
    const ok = await this.script(
      'siloCommit',
      this.k('closing'),
      this.k('close-lock'),
      this.k('state'),
      this.k('model', next.modelVersion),
      this.k('optimizer'),
      this.k('round', roundId),
      this.k('round', roundId, 'tokens'),
      this.k('round', roundId, 'summaries'),
      this.k('round', roundId, 'partials'),
      this.k('round', roundId, 'partial-counts'),
      this.k('round', roundId, 'accepted'),
      this.k('round', roundId, 'summaries-copy'),
      this.k('round', roundId, 'partials-copy'),
      this.k('round', roundId, 'partial-counts-copy'),
      String(roundId),
      this.owner,
      sealed,
      modelBytes ? '1' : '0',
      modelBytes ? bytes(modelBytes) : '',
      optimizer ? bytes(optimizer) : '',
    );
    if (ok !== 1) throw new Error(`lost the close of round ${roundId} (lease expired and another instance took it over)`);
    this.rounds.delete(roundId);
  }

  async abortClose(): Promise<void> {
    await this.script('siloRelease', this.k('close-lock'), this.owner);
  }

  async close(): Promise<void> {
    // commits in flight finish (and answer their uploads) first
    while (this.group.busy) await new Promise((r) => setTimeout(r, 1));
    // QUIT would wait in the offline queue for a server that is not there
    if (this.redis.status === 'ready') await this.redis.quit();
    else this.redis.disconnect();
  }
}
