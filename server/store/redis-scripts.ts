// The Redis store's Lua scripts: every change to a round is one script, which Redis runs
// atomically (see redis-store.ts for the keys and what each step guarantees).
export const SCRIPTS = {
  // KEYS: state, model, next-round, current, closing; ARGV: state JSON, model bytes.
  // 0: initialised before; -1: no state but other keys (a lost state: never start over)
  siloInit: {
    numberOfKeys: 5,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2], KEYS[3], KEYS[4], KEYS[5]) > 0 then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], '1')
redis.call('SET', KEYS[1], ARGV[1])
return 1`,
  },
  // KEYS: state; ARGV: the state read, its replacement (written only if unchanged meanwhile)
  siloReplaceState: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
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
return redis.call('HLEN', KEYS[2])`,
  },
  // KEYS: current, tokens, summaries, summaries-copy; ARGV: id, token, summary. The copy gets
  // the same entry at the same index (a round opened before copies existed has none: left so)
  siloAccept: {
    numberOfKeys: 4,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local t = redis.call('HGET', KEYS[2], ARGV[2])
if not t then return -2 end
if t ~= '0' then return -3 end
redis.call('HSET', KEYS[2], ARGV[2], '1')
if redis.call('LLEN', KEYS[4]) == redis.call('LLEN', KEYS[3]) then redis.call('RPUSH', KEYS[4], ARGV[3]) end
return redis.call('RPUSH', KEYS[3], ARGV[3])`,
  },
  // One group commit of a 'sum' round. Returns {-1}: round not open (nothing changed);
  // {1, i, code, …}: the tokens at batch positions i are refused (-2 unknown, -3 used, also
  // a token twice in the batch) and nothing changed; {0, accepted}: all tokens spent, this
  // instance's partial sum and counts replaced, the round's accepted count adjusted by the
  // change in this instance's count (so it always equals the sum of the partial counts).
  // KEYS: current, tokens, partials, partial-counts, accepted, partials-copy, partial-counts-copy
  // ARGV: id, instance, sum bytes, count, "within-clip count, sum CRC, counts CRC", token…
  siloAcceptBatch: {
    numberOfKeys: 7,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local refused = {1}
local seen = {}
for i = 6, #ARGV do
  local t = redis.call('HGET', KEYS[2], ARGV[i])
  if not t then
    table.insert(refused, i - 6); table.insert(refused, -2)
  elseif t ~= '0' or seen[ARGV[i]] then
    table.insert(refused, i - 6); table.insert(refused, -3)
  end
  seen[ARGV[i]] = true
end
if #refused > 1 then return refused end
for i = 6, #ARGV do redis.call('HSET', KEYS[2], ARGV[i], '1') end
local old = redis.call('HGET', KEYS[4], ARGV[2])
local before = old and tonumber(string.match(old, '^%d+')) or 0
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[4] .. ' ' .. ARGV[5])
redis.call('HSET', KEYS[6], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[7], ARGV[2], ARGV[4] .. ' ' .. ARGV[5])
return {0, redis.call('INCRBY', KEYS[5], tonumber(ARGV[4]) - before)}`,
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
  // KEYS: closing, close-lock, state, model:<v>, optimizer, round, tokens, summaries,
  //       partials, partial-counts, accepted, summaries-copy, partials-copy, partial-counts-copy
  // ARGV: id, owner, state JSON, has model (1/0), model bytes, optimizer bytes ('' = none)
  siloCommit: {
    numberOfKeys: 14,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[4], ARGV[5])
  if ARGV[6] == '' then redis.call('DEL', KEYS[5]) else redis.call('SET', KEYS[5], ARGV[6]) end
end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[6], KEYS[7], KEYS[10], KEYS[11], KEYS[14])
redis.call('UNLINK', KEYS[8], KEYS[9], KEYS[12], KEYS[13])
return 1`,
  },
  // KEYS: close-lock; ARGV: owner
  siloRelease: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`,
  },
} as const;
