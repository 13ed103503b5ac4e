// Shared store: several aggregator instances on one Redis serve one round together.
// Every change to a round is one Lua script (Redis runs scripts atomically), so two
// instances can never both spend a token, both count a summary, or both close a round.
// Keys (prefix default "silo:"):
//   state              GlobalState JSON (model version, strategy state, ledger, history)
//   model:<v>          model version v, little-endian float32
//   optimizer          server-optimiser state for the current model version
//   next-round         id the next round opens with
//   current            id of the open round (absent when none is open)
//   closing            id of the round being closed; close-lock: its closer (expires, so a
//                      crashed closer's round can be taken over by another instance)
//   round:<id>         OpenRound JSON; round:<id>:tokens hash token → 0 issued / 1 used;
//   round:<id>:summaries  list of accepted summaries, summed by the closer, then deleted
// Durability: an upload is acknowledged once its script has run, i.e. once Redis holds it.
// For the embedded store's guarantee across a Redis crash run Redis with
// `appendonly yes` and `appendfsync always` (Redis then fsyncs before it replies, one fsync
// per event-loop turn: group commit).
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AcceptResult, AggregatorStore, GlobalState, OpenRound } from './store.ts';

const SCRIPTS = {
  // KEYS: state, model, next-round; ARGV: state JSON, model bytes
  siloInit: {
    numberOfKeys: 3,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], '1')
redis.call('SET', KEYS[1], ARGV[1])
return 1`,
  },
  // KEYS: current, closing, next-round, round:<id>; ARGV: id, round JSON
  siloOpen: {
    numberOfKeys: 4,
    lua: `local cur = redis.call('GET', KEYS[1])
if cur then return cur end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'closing' end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 'stale' end
redis.call('SET', KEYS[4], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], tostring(tonumber(ARGV[1]) + 1))
return ARGV[1]`,
  },
  // KEYS: current, tokens; ARGV: id, token, max
  siloIssue: {
    numberOfKeys: 2,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[2], '0') == 0 then return 0 end
return 1`,
  },
  // KEYS: current, tokens, summaries; ARGV: id, token, summary
  siloAccept: {
    numberOfKeys: 3,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local t = redis.call('HGET', KEYS[2], ARGV[2])
if not t then return -2 end
if t ~= '0' then return -3 end
redis.call('HSET', KEYS[2], ARGV[2], '1')
return redis.call('RPUSH', KEYS[3], ARGV[3])`,
  },
  // KEYS: current, closing, close-lock; ARGV: id, owner, ttl ms
  siloClaim: {
    numberOfKeys: 3,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[1])
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
  return 1
end
if redis.call('GET', KEYS[2]) == ARGV[1] and redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 0`,
  },
  // KEYS: closing, close-lock, state, model:<v>, optimizer, round, tokens, summaries
  // ARGV: id, owner, state JSON, has model (1/0), model bytes, optimizer bytes ('' = none)
  siloCommit: {
    numberOfKeys: 8,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[4], ARGV[5])
  if ARGV[6] == '' then redis.call('DEL', KEYS[5]) else redis.call('SET', KEYS[5], ARGV[6]) end
end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[6], KEYS[7])
redis.call('UNLINK', KEYS[8])
return 1`,
  },
  // KEYS: close-lock; ARGV: owner
  siloRelease: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`,
  },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type Arg = string | number | Buffer;

export interface RedisStoreOptions {
  /** key prefix, so several deployments can share one Redis (default "silo:") */
  prefix?: string;
  /** how long a closer may hold a round before another instance may take it over */
  closeLeaseMs?: number;
}

function bytes(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export class RedisStore implements AggregatorStore {
  readonly exclusive = false;
  readonly kind = 'redis';
  readonly redis: Redis;
  private readonly prefix: string;
  private readonly owner = randomBytes(12).toString('hex');
  private readonly leaseMs: number;
  private readonly rounds = new Map<number, OpenRound>();

  constructor(url: string, options: RedisStoreOptions = {}) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
    for (const [name, def] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, def);
    this.prefix = options.prefix ?? 'silo:';
    this.leaseMs = options.closeLeaseMs ?? 120_000;
  }

  private k(...parts: (string | number)[]): string {
    return this.prefix + parts.join(':');
  }

  private script(name: ScriptName, ...args: Arg[]): Promise<unknown> {
    return (this.redis as unknown as Record<ScriptName, (...a: Arg[]) => Promise<unknown>>)[name](...args);
  }

  async init(state: GlobalState, weights: Float32Array): Promise<GlobalState> {
    await this.script('siloInit', this.k('state'), this.k('model', state.modelVersion), this.k('next-round'), JSON.stringify(state), bytes(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength)));
    return this.readState();
  }

  async readState(): Promise<GlobalState> {
    const text = await this.redis.get(this.k('state'));
    if (!text) throw new Error(`Redis has no ${this.k('state')}: store not initialised`);
    return JSON.parse(text) as GlobalState;
  }

  async readModel(version: number): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(version) || version < 1) return null;
    return this.redis.getBuffer(this.k('model', version));
  }

  async readOptimizer(): Promise<Uint8Array | null> {
    return this.redis.getBuffer(this.k('optimizer'));
  }

  private async roundById(id: number): Promise<OpenRound | null> {
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

  async issueToken(roundId: number, token: string, max: number): Promise<boolean> {
    return (await this.script('siloIssue', this.k('current'), this.k('round', roundId, 'tokens'), String(roundId), token, String(max))) === 1;
  }

  async counts(roundId: number): Promise<{ selected: number; accepted: number }> {
    const [[, selected], [, accepted]] = (await this.redis.multi().hlen(this.k('round', roundId, 'tokens')).llen(this.k('round', roundId, 'summaries')).exec()) as [unknown, number][];
    return { selected, accepted };
  }

  async accept(roundId: number, token: string, summary: Uint8Array): Promise<AcceptResult> {
    const n = Number(await this.script('siloAccept', this.k('current'), this.k('round', roundId, 'tokens'), this.k('round', roundId, 'summaries'), String(roundId), token, bytes(summary)));
    if (n > 0) return { ok: true, accepted: n };
    return { ok: false, reason: n === -1 ? 'not-open' : n === -2 ? 'unknown-token' : 'duplicate' };
  }

  async claimClose(roundId: number): Promise<boolean> {
    // after this script no accept script for the round can succeed; everything accepted is in the list
    return (await this.script('siloClaim', this.k('current'), this.k('closing'), this.k('close-lock'), String(roundId), this.owner, String(this.leaseMs))) === 1;
  }

  async *summaries(roundId: number): AsyncIterable<Uint8Array> {
    const key = this.k('round', roundId, 'summaries');
    const n = await this.redis.llen(key);
    const chunk = 8; // a few summaries in memory at a time
    for (let i = 0; i < n; i += chunk) {
      for (const b of await this.redis.lrangeBuffer(key, i, Math.min(n, i + chunk) - 1)) yield b;
    }
  }

  async commitClose(roundId: number, next: GlobalState, model: Float32Array | null, optimizer: Uint8Array | null): Promise<void> {
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
      String(roundId),
      this.owner,
      JSON.stringify(next),
      model ? '1' : '0',
      model ? bytes(new Uint8Array(model.buffer, model.byteOffset, model.byteLength)) : '',
      optimizer ? bytes(optimizer) : '',
    );
    if (ok !== 1) throw new Error(`lost the close of round ${roundId} (lease expired and another instance took it over)`);
    this.rounds.delete(roundId);
  }

  async abortClose(): Promise<void> {
    await this.script('siloRelease', this.k('close-lock'), this.owner);
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
