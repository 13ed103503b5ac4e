// The Redis store keeps every stored upload of a round twice, written by the same script:
//   round:<id>:partials / partial-counts       and  round:<id>:partials-copy / partial-counts-copy
//   round:<id>:summaries                        and  round:<id>:summaries-copy (same index)
// Each copy checks itself: a partial sum against the CRC-32 in its counts, the counts text
// against its own CRC-32, a kept summary against its seal. Reading (start, the close, repair)
// takes each record from a copy that holds it intact; at start a record damaged in one copy
// is restored from the other (logged); only a record damaged in both is refused, naming both.
// A round opened before copies existed has no copy list (its lengths differ): read alone.
import type { Redis } from 'ioredis';
import { checkPartial, openSummary, parsePartialCounts } from '../integrity-redis.ts';
import { StoreIntegrityError } from '../integrity.ts';

/** damage in the open (or closing) round's stored uploads that no copy can make up for */
export interface RoundDamage {
  key: string;
  /** a partial sum: the instance's field; a kept summary: its list index */
  at: string | number;
  message: string;
}

export interface IntactPartial {
  count: number;
  within: number;
  sum: Buffer;
}

/** one copy of an instance's partial: its counts text (and raw bytes, to compare-and-set), its sum */
type Copy = { counts: string | null; raw: Buffer | null; sum: Buffer | null };

/** why one copy of an instance's partial cannot be used (null: intact) */
function partialDamage(key: string, instance: string, c: Copy): string | null {
  const countsKey = key.replace(/partials(-copy)?$/, 'partial-counts$1');
  if (c.counts === null) return `${countsKey} field ${instance}: missing`;
  const parsed = parsePartialCounts(c.counts);
  if (!parsed.intact) return `${countsKey} field ${instance}: checksum mismatch over "${c.counts}"`;
  if (!c.sum) return `${key} field ${instance}: missing (its counts are stored)`;
  try {
    checkPartial(key, instance, c.sum, parsed.crc);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const roundKeys = (prefix: string, id: number | string) => {
  const r = `${prefix}round:${id}`;
  return { round: r, partials: [`${r}:partials`, `${r}:partials-copy`], counts: [`${r}:partial-counts`, `${r}:partial-counts-copy`], lists: [`${r}:summaries`, `${r}:summaries-copy`] };
};

async function readCopy(redis: Redis, sums: string, counts: string, instance: string): Promise<Copy> {
  // the counts and the sum together: a group commit of a running instance replaces both at once
  const [[, raw], [, sum]] = (await redis.multi().hgetBuffer(counts, instance).hgetBuffer(sums, instance).exec()) as [[unknown, Buffer | null], [unknown, Buffer | null]];
  return { counts: raw && raw.toString('latin1'), raw, sum };
}

export type RestoreLog = (message: string) => void;

/**
 * Every instance's partial sum of round `id`, each from a copy that holds it intact; with
 * `log`, a damaged copy is restored from the intact one. Damaged in both: in `damage`.
 */
export async function readPartials(redis: Redis, prefix: string, id: number | string, log?: RestoreLog): Promise<{ partials: Map<string, IntactPartial>; damage: RoundDamage[] }> {
  const k = roundKeys(prefix, id);
  const partials = new Map<string, IntactPartial>();
  const damage: RoundDamage[] = [];
  const instances = new Set([...(await redis.hkeys(k.counts[0])), ...(await redis.hkeys(k.counts[1]))]);
  for (const instance of [...instances].sort()) {
    const copies = [await readCopy(redis, k.partials[0], k.counts[0], instance), await readCopy(redis, k.partials[1], k.counts[1], instance)];
    const problems = copies.map((c, i) => partialDamage(k.partials[i], instance, c));
    const good = problems.findIndex((p) => p === null);
    if (good < 0) {
      damage.push({ key: k.partials[0], at: instance, message: `${problems[0]}; and its copy ${problems[1]}` });
      continue;
    }
    const { counts, sum } = copies[good] as { counts: string; sum: Buffer };
    const { count, within } = parsePartialCounts(counts);
    partials.set(instance, { count, within, sum });
    const bad = 1 - good;
    if (problems[bad] === null || !log) continue;
    const args = [instance, copies[bad].sum ?? '', copies[bad].raw ?? '', sum, copies[good].raw!];
    if (Number(await redis.eval(RESTORE_PARTIAL, 3, k.partials[bad], k.counts[bad], k.round, ...args))) log(`${problems[bad]}; restored from ${k.partials[good]}`);
  }
  return { partials, damage };
}

/** restores a damaged copy only if it still holds what was read (a commit meanwhile rewrote both) and the round still exists */
const RESTORE_PARTIAL = `if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] or (redis.call('HGET', KEYS[2], ARGV[1]) or '') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
return 1`;
const RESTORE_ENTRY = `if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if redis.call('LINDEX', KEYS[1], tonumber(ARGV[1])) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], tonumber(ARGV[1]), ARGV[3])
return 1`;

/**
 * The kept summaries of round `id`, a few at a time, each from a list that holds it intact;
 * with `log`, a damaged entry is restored from the other list. Damaged in both: `onDamage`,
 * or thrown.
 */
export async function* readSummaries(redis: Redis, prefix: string, id: number | string, log?: RestoreLog, onDamage?: (d: RoundDamage) => void): AsyncIterable<Buffer> {
  const k = roundKeys(prefix, id);
  const [n, m] = [await redis.llen(k.lists[0]), await redis.llen(k.lists[1])];
  const mirrored = n === m; // a round opened before copies: its list alone
  const chunk = 8;
  for (let i = 0; i < n; i += chunk) {
    const lists = [await redis.lrangeBuffer(k.lists[0], i, i + chunk - 1), mirrored ? await redis.lrangeBuffer(k.lists[1], i, i + chunk - 1) : []];
    for (let j = 0; j < lists[0].length; j++) {
      const entries = [lists[0][j], lists[1][j] ?? null];
      const opened = entries.map((e, c) => {
        if (!e) return { summary: null, problem: `${k.lists[c]}[${i + j}]: missing` };
        try {
          return { summary: openSummary(k.lists[c], i + j, e), problem: null };
        } catch (err) {
          return { summary: null, problem: (err as Error).message };
        }
      });
      const good = opened.findIndex((o) => o.summary !== null);
      if (good < 0) {
        const d = { key: k.lists[0], at: i + j, message: mirrored ? `${opened[0].problem}; and its copy ${opened[1].problem}` : opened[0].problem! };
        if (!onDamage) throw new StoreIntegrityError(d.message);
        onDamage(d);
        continue;
      }
      const bad = 1 - good;
      if (mirrored && log && opened[bad].summary === null && entries[bad]) {
        if (Number(await redis.eval(RESTORE_ENTRY, 2, k.lists[bad], k.round, String(i + j), entries[bad]!, entries[good]!))) log(`${opened[bad].problem}; restored from ${k.lists[good]}[${i + j}]`);
      }
      yield opened[good].summary!;
    }
  }
}

/** The open (or closing) round's damage that no copy makes up for; single-copy damage is restored on the way (logged). */
export async function roundDamage(redis: Redis, prefix: string, log: RestoreLog = (m) => console.warn(`redis store: ${m}`)): Promise<RoundDamage[]> {
  const [current, closing] = await redis.mget(prefix + 'current', prefix + 'closing');
  const open = current ?? closing;
  if (open === null) return [];
  const { damage } = await readPartials(redis, prefix, open, log);
  for await (const _ of readSummaries(redis, prefix, open, log, (d) => damage.push(d)));
  return damage;
}
