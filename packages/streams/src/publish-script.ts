import type { RedisClient } from '@turnstream/config';

/** How long a batch's marker is kept: longer than any reconnect after which a command is re-sent. */
export const BATCH_MARKER_TTL_SECONDS = 300;

/**
 * One atomic step per batch: fence check, XADD of every event (MAXLEN ~ trim), TTL refresh,
 * then one (S)PUBLISH of the whole batch with the ids just assigned.
 *
 * KEYS[1] log stream, KEYS[2] fence, KEYS[3] this batch's marker (unique per publish call),
 * KEYS[4] the conversation's ends (message id -> ids of its terminal event)
 * ARGV[1] fence ('' = unfenced), ARGV[2] maxLen, ARGV[3] ttl seconds, ARGV[4] channel,
 * ARGV[5] '1' = SPUBLISH else PUBLISH, ARGV[6] the message id whose terminal event the batch carries
 * ('' = none), ARGV[7..] event bodies as JSON
 *
 * Every key shares the conversation's hash tag (the marker is the fence key plus a suffix; `ends` is
 * one of the conversation's keys), so the script is slot-safe on a Cluster.
 * Returns {1, {id...}} when written, {0, currentFence} when the fence is stale.
 * Idempotent per batch: the client re-sends a command whose reply a dropped connection lost (ioredis
 * does so after a reconnect, e.g. when Redis crashed right after executing it); the marker, written
 * with the batch, makes the repeat return the ids of the first run and append nothing.
 * Once per turn end: a batch carrying the terminal event of a message that already has one in the log
 * (another writer ended it there first, e.g. a worker repairing the end a dead worker did not publish)
 * appends nothing and returns the ids of the first.
 * The channel is an ARGV (not a KEY) so that an ioredis `keyPrefix` is applied to neither the
 * channel here nor the subscriber's channel; it carries the same hash tag, hence the same slot.
 */
export const PUBLISH_LUA = `
local applied = redis.call('GET', KEYS[3])
if applied then
  return {1, cjson.decode(applied)}
end
local ttl = tonumber(ARGV[3])
if ARGV[1] ~= '' then
  local fence = tonumber(ARGV[1])
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if fence < current then
    return {0, current}
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
    return {1, cjson.decode(ended)}
  end
end
if #ARGV < 7 then
  return {1, {}}
end
local ids = {}
local parts = {}
for i = 7, #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i])
  ids[#ids + 1] = id
  parts[#parts + 1] = '{"id":"' .. id .. '","event":' .. ARGV[i] .. '}'
end
redis.call('EXPIRE', KEYS[1], ttl)
local command = 'PUBLISH'
if ARGV[5] == '1' then
  command = 'SPUBLISH'
end
redis.call(command, ARGV[4], '[' .. table.concat(parts, ',') .. ']')
redis.call('SET', KEYS[3], cjson.encode(ids), 'EX', ${BATCH_MARKER_TTL_SECONDS})
if ending ~= '' then
  redis.call('HSET', KEYS[4], ending, cjson.encode(ids))
  redis.call('EXPIRE', KEYS[4], ttl)
end
return {1, ids}
`;

/** Name of the script's command on a connection (and on its pipelines). */
export const PUBLISH_COMMAND = 'turnstreamsPublish';

export type PublishReply = [1, string[]] | [0, number];

export type PublishCommand = (
  logKey: string,
  fenceKey: string,
  batchKey: string,
  endsKey: string,
  ...args: string[]
) => Promise<PublishReply>;

/** Registers the script on `redis` (EVALSHA with EVAL fallback) and returns a caller. */
export function definePublishCommand(redis: RedisClient): PublishCommand {
  redis.defineCommand(PUBLISH_COMMAND, { numberOfKeys: 4, lua: PUBLISH_LUA });
  const command = (redis as unknown as Record<string, PublishCommand>)[PUBLISH_COMMAND]!;
  return command.bind(redis);
}
