import type { RedisClient } from '@turnstream/config';
import { BATCH_RECORD_KEEP, BATCH_RECORD_TTL_SECONDS } from './batch-record.ts';
import { RELEASE_LUA } from './release-script.ts';

/** Lua helpers of the publish scripts. */
const PUBLISH_HELPERS = `
local function replicas(mode)
  if mode ~= '' then
    return nil
  end
  return tonumber(string.match(redis.call('INFO', 'replication'), 'connected_slaves:(%d+)'))
end
-- Drops the record's batches below floor (answered) except the newest ${BATCH_RECORD_KEEP}.
local function prune(record, floor)
  local batches = {}
  for _, field in ipairs(redis.call('HKEYS', record)) do
    batches[#batches + 1] = {tonumber(field), field}
  end
  table.sort(batches, function(a, b) return a[1] < b[1] end)
  for i = 1, #batches - ${BATCH_RECORD_KEEP} do
    if batches[i][1] < floor then
      redis.call('HDEL', record, batches[i][2])
    end
  end
end
`;

/**
 * The body of one batch's step, for a script that reads the batch's keys with `K(i)` (1..5) and its
 * arguments with `A(i)` (1..8, as PUBLISH_LUA's ARGV), its `n` events being ARGV[first ..]: written once,
 * indexing KEYS and ARGV in place (no table per batch) in both scripts.
 */
function publishStep(K: (i: number) => string, A: (i: number) => string, first: string): string {
  return `
  local applied = redis.call('HGET', ${K(3)}, ${A(7)})
  if applied then
    return {1, cjson.decode(applied), replicas(${A(5)})}
  end
  local ttl = tonumber(${A(3)})
  if ${A(1)} ~= '' then
    local fence = tonumber(${A(1)})
    local current = tonumber(redis.call('GET', ${K(2)}) or '0')
    if fence < current then
      return {0, current, replicas(${A(5)})}
    end
    if fence > current then
      redis.call('SET', ${K(2)}, ${A(1)}, 'EX', ttl)
    else
      redis.call('EXPIRE', ${K(2)}, ttl)
    end
  else
    redis.call('EXPIRE', ${K(2)}, ttl)
  end
  local ending = ${A(6)}
  if ending ~= '' then
    local ended = redis.call('HGET', ${K(4)}, ending)
    if ended then
      return {1, cjson.decode(ended), replicas(${A(5)})}
    end
  end
  if n == 0 then
    return {1, {}, replicas(${A(5)})}
  end
  if ${A(5)} == '' and redis.call('EXISTS', ${K(5)}) == 0 then
    local before = redis.call('XREVRANGE', ${K(1)}, '+', '-', 'COUNT', 1)[1]
    redis.call('SET', ${K(5)}, before and before[1] or '0-0', 'EX', ttl)
  end
  local ids = {}
  local parts = {}
  for i = ${first}, ${first} + n - 1 do
    local id = redis.call('XADD', ${K(1)}, 'MAXLEN', '~', ${A(2)}, '*', 'e', ARGV[i])
    ids[#ids + 1] = id
    parts[#parts + 1] = '{"id":"' .. id .. '","event":' .. ARGV[i] .. '}'
  end
  redis.call('EXPIRE', ${K(1)}, ttl)
  if ${A(5)} ~= '' then
    local command = 'PUBLISH'
    if ${A(5)} == '1' then
      command = 'SPUBLISH'
    end
    redis.call(command, ${A(4)}, '[' .. table.concat(parts, ',') .. ']')
    redis.call('SET', ${K(5)}, ids[#ids], 'EX', ttl)
  end
  redis.call('HSET', ${K(3)}, ${A(7)}, cjson.encode(ids))
  redis.call('EXPIRE', ${K(3)}, ${BATCH_RECORD_TTL_SECONDS})
  if redis.call('HLEN', ${K(3)}) > ${2 * BATCH_RECORD_KEEP} then
    prune(${K(3)}, tonumber(${A(8)}))
  end
  if ending ~= '' then
    redis.call('HSET', ${K(4)}, ending, cjson.encode(ids))
    redis.call('EXPIRE', ${K(4)}, ttl)
  end
  return {1, ids, replicas(${A(5)})}
`;
}

/**
 * One atomic step per batch: fence check, XADD of every event (MAXLEN ~ trim), TTL refresh, then
 * either the release of the batch (one (S)PUBLISH of it with the ids just assigned, and the released
 * id moved to its last) or, when the caller waits for replicas first, nothing more: the caller
 * releases the batch once `WAIT` says a replica has it (release-script.ts). The two modes must not be
 * mixed on one deployment: a batch released at once moves the released id past any batch another
 * process appended and had not released yet, which then never goes out live.
 *
 * KEYS[1] log stream, KEYS[2] fence, KEYS[3] the writer's batch record for this conversation (a hash:
 * batch number -> ids), KEYS[4] the conversation's ends (message id -> ids of its terminal event),
 * KEYS[5] released id
 * ARGV[1] fence ('' = unfenced), ARGV[2] maxLen, ARGV[3] ttl seconds, ARGV[4] channel,
 * ARGV[5] '1' = SPUBLISH, '0' = PUBLISH, '' = append only (released later by the caller),
 * ARGV[6] the message id whose terminal event the batch carries ('' = none), ARGV[7] the batch's
 * number in the writer's record, ARGV[8] the lowest number the writer still awaits an answer for on
 * this conversation, ARGV[9..] event bodies as JSON
 *
 * Every key shares the conversation's hash tag (the record is the fence key plus a suffix; `ends` and
 * `released` are the conversation's keys), so the script is slot-safe on a Cluster.
 * Returns {1, {id...}} when written, {0, currentFence} when the fence is stale; append only, with the
 * number of replicas connected to this master as a third element (`INFO replication`), so that the
 * caller waits for no more replicas than there are.
 * Idempotent per batch: the client re-sends a command whose reply a dropped connection lost (ioredis
 * does so after a reconnect, e.g. when Redis crashed right after executing it; the replication-wait
 * appender after a lost answer); the record, written with the batch, makes the repeat return the ids
 * of the first run and append nothing. A batch is re-sent only while its writer awaits its answer, so
 * the record keeps every batch from ARGV[8] on, and of the older ones (answered: never sent again)
 * the newest ${BATCH_RECORD_KEEP}: pruned when it holds twice that, so a held stream costs one small
 * hash instead of a key per batch. The record expires ${BATCH_RECORD_TTL_SECONDS} s after the writer's
 * last batch on the conversation.
 * Once per turn end: a batch carrying the terminal event of a message that already has one in the log
 * (another writer ended it there first, e.g. a worker repairing the end a dead worker did not publish)
 * appends nothing and returns the ids of the first.
 * Append only, on a log whose released id is unset, sets it to the entry before the batch, so that
 * what was there is readable and the batch is not until released.
 * The channel is an ARGV (not a KEY) so that an ioredis `keyPrefix` is applied to neither the
 * channel here nor the subscriber's channel; it carries the same hash tag, hence the same slot.
 */
export const PUBLISH_LUA = `${PUBLISH_HELPERS}local function publish(n)${publishStep(
  (i) => `KEYS[${i}]`,
  (i) => `ARGV[${i}]`,
  '9',
)}end
return publish(#ARGV - 8)
`;

/**
 * Several batches, of any conversations, in one script call: each is {@link PUBLISH_LUA}'s step on its
 * own (its own fence, record and ends; an error in one, caught with `pcall`, fails that batch alone),
 * in order. What a process publishing for many conversations at once sends per loop turn: one command
 * instead of one per batch, which costs the client less than a pipeline of single calls (Redis about
 * the same). Not on a Cluster: the keys of several conversations hash to several slots.
 *
 * KEYS: the 5 keys of PUBLISH_LUA, for each batch in turn.
 * ARGV[1] maxLen, ARGV[2] ttl seconds, ARGV[3] '1' = SPUBLISH, '0' = PUBLISH (shared by every batch);
 * then for each batch: its number of events n, fence, channel, terminal message id, batch number,
 * lowest awaited number (PUBLISH_LUA's ARGV[1], [4], [6], [7], [8]), then its n event bodies.
 * Returns one reply per batch, as PUBLISH_LUA's (an error reply for a batch that failed).
 */
/** PUBLISH_MANY_LUA's ARGV for a batch whose keys start after KEYS[k] and whose own arguments after ARGV[a]. */
const MANY_ARG: Record<number, string> = {
  1: 'ARGV[a + 1]',
  2: 'ARGV[1]',
  3: 'ARGV[2]',
  4: 'ARGV[a + 2]',
  5: 'ARGV[3]',
  6: 'ARGV[a + 3]',
  7: 'ARGV[a + 4]',
  8: 'ARGV[a + 5]',
};

export const PUBLISH_MANY_LUA = `${PUBLISH_HELPERS}local function publish(k, a, n)${publishStep(
  (i) => `KEYS[k + ${i}]`,
  (i) => MANY_ARG[i]!,
  'a + 6',
)}end
local replies = {}
local a = 3
for k = 0, #KEYS - 5, 5 do
  local n = tonumber(ARGV[a + 1])
  local ok, reply = pcall(publish, k, a + 1, n)
  if not ok and type(reply) ~= 'table' then
    reply = {err = tostring(reply)}
  end
  replies[#replies + 1] = reply
  a = a + 6 + n
end
return replies
`;

/** Name of the several-batch script's command (see {@link PUBLISH_MANY_LUA}). */
export const PUBLISH_MANY_COMMAND = 'turnstreamsPublishMany';

/** Calls {@link PUBLISH_MANY_LUA}: `numKeys` (5 per batch), the keys, then the arguments. */
export type PublishManyCommand = (numKeys: number, ...keysAndArgs: string[]) => Promise<unknown[]>;

/** Registers the several-batch script on `redis` (EVALSHA with EVAL fallback). */
export function definePublishManyCommand(redis: RedisClient): void {
  redis.defineCommand(PUBLISH_MANY_COMMAND, { lua: PUBLISH_MANY_LUA });
}

/** Name of the script's command on a connection (and on its pipelines). */
export const PUBLISH_COMMAND = 'turnstreamsPublish';

/** Number of keys the publish script takes. */
export const PUBLISH_KEY_COUNT = 5;

export type PublishReply = [1, string[], number?] | [0, number, number?];

export type PublishCommand = (
  logKey: string,
  fenceKey: string,
  recordKey: string,
  endsKey: string,
  releasedKey: string,
  ...args: string[]
) => Promise<PublishReply>;

/** Registers the script on `redis` (EVALSHA with EVAL fallback) and returns a caller. */
export function definePublishCommand(redis: RedisClient): PublishCommand {
  redis.defineCommand(PUBLISH_COMMAND, { numberOfKeys: PUBLISH_KEY_COUNT, lua: PUBLISH_LUA });
  const command = (redis as unknown as Record<string, PublishCommand>)[PUBLISH_COMMAND]!;
  return command.bind(redis);
}

/** Name of the release script's command (see {@link RELEASE_LUA}). */
export const RELEASE_COMMAND = 'turnstreamsRelease';

export type ReleaseCommand = (
  logKey: string,
  releasedKey: string,
  firstId: string,
  lastId: string,
  ttlSeconds: string,
  channel: string,
  sharded: string,
) => Promise<number>;

/** Registers the release script on `redis` and returns a caller. */
export function defineReleaseCommand(redis: RedisClient): ReleaseCommand {
  redis.defineCommand(RELEASE_COMMAND, { numberOfKeys: 2, lua: RELEASE_LUA });
  const command = (redis as unknown as Record<string, ReleaseCommand>)[RELEASE_COMMAND]!;
  return command.bind(redis);
}
