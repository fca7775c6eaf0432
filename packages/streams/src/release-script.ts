import type { RedisClient } from '@turnstream/config';

/**
 * Releasing log entries to readers after a replication wait (the publish script releases a batch at
 * once when no wait is asked), and the reads capped at what was released.
 *
 * A conversation's `released` key holds the id of the newest entry released. Releasing up to `last`
 * publishes, in one live message, every entry after the released id up to `last` (usually just the
 * batch; more when another writer's batch was appended before and not released yet), then moves the
 * key. So live messages go out in log order, each entry once, whatever order the writers' replication
 * waits end in; and an entry is released only once every entry before it is.
 */

/** Lua: compares two stream ids (`ms-seq`); -1, 0 or 1. */
const COMPARE_IDS = `
local function compare_ids(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, bms = tonumber(ams), tonumber(bms)
  if ams ~= bms then
    if ams < bms then return -1 end
    return 1
  end
  aseq, bseq = tonumber(aseq), tonumber(bseq)
  if aseq == bseq then return 0 end
  if aseq < bseq then return -1 end
  return 1
end
`;

/**
 * Lua: `release(log, released, first, last, ttl, channel, sharded)`. Publishes the entries after the
 * released id (from `first` when nothing was released yet) up to `last` and moves the released id to
 * `last`; nothing when `last` is already released. Returns the number of entries published.
 */
const RELEASE_FUNCTION = `${COMPARE_IDS}
local function release(log, released, first, last, ttl, channel, sharded)
  local mark = redis.call('GET', released)
  if mark and compare_ids(mark, last) >= 0 then
    return 0
  end
  local from = first
  if mark then
    from = '(' .. mark
  end
  local entries = redis.call('XRANGE', log, from, last)
  redis.call('SET', released, last, 'EX', ttl)
  if #entries == 0 then
    return 0
  end
  local parts = {}
  for _, entry in ipairs(entries) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'e' then
        parts[#parts + 1] = '{"id":"' .. entry[1] .. '","event":' .. fields[i + 1] .. '}'
      end
    end
  end
  local command = 'PUBLISH'
  if sharded == '1' then
    command = 'SPUBLISH'
  end
  redis.call(command, channel, '[' .. table.concat(parts, ',') .. ']')
  return #entries
end
`;

/**
 * KEYS[1] log, KEYS[2] released; ARGV[1] first id of the batch, ARGV[2] its last id, ARGV[3] ttl
 * seconds, ARGV[4] channel, ARGV[5] '1' = SPUBLISH else PUBLISH. Returns the number of entries published.
 */
export const RELEASE_LUA = `${RELEASE_FUNCTION}
return release(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5])
`;

/**
 * The log as readers see it: entries from ARGV[1] (an XRANGE start) up to the released id (the whole
 * log when nothing marks it: a log written before the mark existed), at most ARGV[2] ('' = no limit).
 * KEYS[1] log, KEYS[2] released.
 */
export const READ_LUA = `
local stop = redis.call('GET', KEYS[2]) or '+'
if ARGV[2] == '' then
  return redis.call('XRANGE', KEYS[1], ARGV[1], stop)
end
return redis.call('XRANGE', KEYS[1], ARGV[1], stop, 'COUNT', ARGV[2])
`;

/** The newest released entry (`{}` when none). KEYS[1] log, KEYS[2] released. */
export const LAST_LUA = `
local stop = redis.call('GET', KEYS[2]) or '+'
return redis.call('XREVRANGE', KEYS[1], stop, '-', 'COUNT', 1)
`;

type Entries = [id: string, fields: string[]][];

/** The capped reads of a connection: `read(log, released, start, count)`, `last(log, released)`. */
export interface LogReads {
  read(log: string, released: string, start: string, count: string): Promise<Entries>;
  last(log: string, released: string): Promise<Entries>;
}

/** Registers the read scripts on `redis`. */
export function defineLogReads(redis: RedisClient): LogReads {
  redis.defineCommand('turnstreamsRead', { numberOfKeys: 2, lua: READ_LUA });
  redis.defineCommand('turnstreamsLast', { numberOfKeys: 2, lua: LAST_LUA });
  const commands = redis as unknown as Record<string, (...args: string[]) => Promise<Entries>>;
  return {
    read: (log, released, start, count) => commands.turnstreamsRead!.call(redis, log, released, start, count),
    last: (log, released) => commands.turnstreamsLast!.call(redis, log, released),
  };
}
