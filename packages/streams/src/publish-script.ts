import type { RedisClient } from '@turnstream/config';
import { BATCH_RECORD_KEEP, BATCH_RECORD_TTL_SECONDS } from './batch-record.ts';
import { RELEASE_LUA } from './release-script.ts';

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
export const PUBLISH_LUA = `
local function replicas()
  if ARGV[5] ~= '' then
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
local applied = redis.call('HGET', KEYS[3], ARGV[7])
if applied then
  return {1, cjson.decode(applied), replicas()}
end
local ttl = tonumber(ARGV[3])
if ARGV[1] ~= '' then
  local fence = tonumber(ARGV[1])
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if fence < current then
    return {0, current, replicas()}
  end
  if fence > current then
    redis.call('SET', KEYS[2], ARGV[1], 'EX', ttl)
  else
    redis.call('EXPIRE', KEYS[2], ttl)
  end
else
  redis.call('EXPIRE', KEYS[2], ttl)
end
local ending = ARGV[6]
if ending ~= '' then
  local ended = redis.call('HGET', KEYS[4], ending)
  if ended then
    return {1, cjson.decode(ended), replicas()}
  end
end
if #ARGV < 9 then
  return {1, {}, replicas()}
end
if ARGV[5] == '' and redis.call('EXISTS', KEYS[5]) == 0 then
  local before = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  redis.call('SET', KEYS[5], before and before[1] or '0-0', 'EX', ttl)
end
local ids = {}
local parts = {}
for i = 9, #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i])
  ids[#ids + 1] = id
  parts[#parts + 1] = '{"id":"' .. id .. '","event":' .. ARGV[i] .. '}'
end
redis.call('EXPIRE', KEYS[1], ttl)
if ARGV[5] ~= '' then
  local command = 'PUBLISH'
  if ARGV[5] == '1' then
    command = 'SPUBLISH'
  end
  redis.call(command, ARGV[4], '[' .. table.concat(parts, ',') .. ']')
  redis.call('SET', KEYS[5], ids[#ids], 'EX', ttl)
end
redis.call('HSET', KEYS[3], ARGV[7], cjson.encode(ids))
redis.call('EXPIRE', KEYS[3], ${BATCH_RECORD_TTL_SECONDS})
if redis.call('HLEN', KEYS[3]) > ${2 * BATCH_RECORD_KEEP} then
  prune(KEYS[3], tonumber(ARGV[8]))
end
if ending ~= '' then
  redis.call('HSET', KEYS[4], ending, cjson.encode(ids))
  redis.call('EXPIRE', KEYS[4], ttl)
end
return {1, ids, replicas()}
`;

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
