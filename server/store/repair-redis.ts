// Repairs a Redis store that refuses to start because of damage (run it with every instance
// stopped): damaged older models, popularity releases and the optimiser state are renamed to
// <prefix>damaged:<time>:<name> and dropped from the state; a partial sum or kept summary of
// the open round damaged in one copy is restored from the other (redis-copies.ts); one damaged
// in both is moved to <prefix>damaged:<time>:… and taken out of the round's count (its uploads
// are lost; their tokens stay spent). Nothing is deleted. It will
// not invent what only a backup holds: a lost or damaged state, a damaged current model, or a
// state older than the models.
import { Redis } from 'ioredis';
import { blobProblems, newerThanState, parsePartialCounts, parseRedisState, redisProblems, scanKeys, type RedisState } from '../integrity-redis.ts';
import { roundDamage } from './redis-copies.ts';
import { ledgerProblems, sealJson, type Manifest } from '../integrity.ts';

async function loadState(redis: Redis, prefix: string, report: string[]): Promise<(RedisState & { files: Manifest; text: string }) | null> {
  const text = await redis.get(prefix + 'state');
  if (text === null) {
    const found = await scanKeys(redis, prefix, '*', 12);
    report.push(`there is no ${prefix}state (the privacy ledger)${found.length ? `, but ${found.join(', ')} exist` : ''}: restore it from a backup; repair will not rebuild a privacy ledger.`);
    return null;
  }
  try {
    const stored = parseRedisState(prefix + 'state', text);
    if (stored.files) return { ...stored, files: stored.files, text };
    report.push(`${prefix}state has no checksums yet: start an instance once, it adds them.`);
  } catch (e) {
    report.push(`${(e as Error).message}\nthe state holds the privacy ledger; repair will not rebuild it. Restore it from a backup.`);
  }
  return null;
}

/** moves a partial sum or summary damaged in both copies aside (both copies) and out of the round's count; single-copy damage was restored by roundDamage (reported) */
async function dropRoundDamage(redis: Redis, prefix: string, aside: string, report: string[]): Promise<void> {
  for (const d of await roundDamage(redis, prefix, (m) => report.push(`restored ${m}`))) {
    const roundKey = d.key.slice(0, d.key.lastIndexOf(':'));
    const copyKey = `${d.key}-copy`;
    if (typeof d.at === 'string') {
      const counts = [await redis.hget(`${roundKey}:partial-counts`, d.at), await redis.hget(`${roundKey}:partial-counts-copy`, d.at)];
      // both counts may be damaged: the first that still reads as a number (a best guess, reported)
      const count = counts.map((c) => parsePartialCounts(c ?? 'x').count).find((c) => Number.isSafeInteger(c) && c >= 0) ?? 0;
      const tx = redis.multi();
      for (const key of [d.key, copyKey]) {
        const stored = await redis.hgetBuffer(key, d.at);
        if (stored) tx.hset(aside + key.slice(prefix.length), d.at, stored);
        tx.hdel(key, d.at);
      }
      tx.hdel(`${roundKey}:partial-counts`, d.at).hdel(`${roundKey}:partial-counts-copy`, d.at).decrby(`${roundKey}:accepted`, count);
      await tx.exec();
      report.push(`dropped ${d.message}: the partial sum of instance ${d.at}, ${count} acknowledged upload${count === 1 ? '' : 's'} (their tokens stay spent), moved to ${aside}${d.key.slice(prefix.length)}`);
    } else {
      const mirrored = (await redis.llen(d.key)) === (await redis.llen(copyKey));
      const tomb = `damaged-${Date.now()}-${d.at}`;
      for (const key of mirrored ? [d.key, copyKey] : [d.key]) {
        const entry = await redis.lindexBuffer(key, d.at);
        await redis.multi().rpush(aside + key.slice(prefix.length), entry ?? '').lset(key, d.at, tomb).lrem(key, 1, tomb).exec();
      }
      report.push(`dropped ${d.message}: 1 acknowledged upload, moved to ${aside}${d.key.slice(prefix.length)}`);
    }
  }
}

/** Repairs the store under `prefix`; returns the report and whether the store will start afterwards. */
export async function repairRedis(url: string, prefix: string): Promise<{ ok: boolean; report: string[] }> {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  const report: string[] = [];
  try {
    const stored = await loadState(redis, prefix, report);
    if (!stored) return { ok: false, report };
    const { state, files } = stored;
    const current = `model:${state.modelVersion}`;
    const hopeless = [...ledgerProblems(state).map((p) => `${prefix}state: ${p}`), ...(await newerThanState(redis, prefix, state))];
    const blobs = await blobProblems(redis, prefix, files);
    hopeless.push(...blobs.filter((b) => b.name === current || !files[current]).map((b) => b.message));
    if (hopeless.length) {
      report.push(...hopeless.map((p) => `cannot repair ${p}; restore it from a backup.`));
      return { ok: false, report };
    }
    const aside = `${prefix}damaged:${new Date().toISOString()}:`;
    const next: Manifest = { ...files };
    for (const b of blobs) {
      delete next[b.name];
      const moved = (await redis.exists(prefix + b.name)) ? (await redis.rename(prefix + b.name, aside + b.name), `, renamed to ${aside}${b.name}`) : '';
      report.push(`dropped ${b.message}${moved}: it is no longer served`);
    }
    if (blobs.length) {
      // written only if no instance changed the state meanwhile
      await redis.watch(prefix + 'state');
      if ((await redis.get(prefix + 'state')) !== stored.text || !(await redis.multi().set(prefix + 'state', sealJson({ state, files: next })).exec())) {
        report.push(`${prefix}state changed while repairing: stop every instance and run repair again.`);
        return { ok: false, report };
      }
    }
    await dropRoundDamage(redis, prefix, aside, report);
    const left = await redisProblems(redis, prefix, { state, files: next });
    report.push(left.length ? `still damaged:\n  ${left.join('\n  ')}` : `the Redis store ${prefix}* will start.`);
    return { ok: left.length === 0, report };
  } finally {
    redis.disconnect();
  }
}
