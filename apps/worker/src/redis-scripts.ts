import type { RedisClient } from '@turnstream/config';

/** A Lua script as a command of a connection: called with its keys, then its arguments. */
export type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Register `lua` on `redis` as the command `name` (once per connection) and return a caller: ioredis
 * sends `EVALSHA`, and the script's body only when the server does not have it yet (`NOSCRIPT`),
 * instead of the whole body with every call (`EVAL`). Without `numberOfKeys` the key count is the
 * call's first argument.
 */
export function defineScript(
  redis: RedisClient,
  name: string,
  lua: string,
  numberOfKeys?: number,
): ScriptCall {
  if (!(name in redis)) {
    redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
  }
  return (redis as unknown as Record<string, ScriptCall>)[name]!.bind(redis);
}
