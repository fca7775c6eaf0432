import type { RedisClient } from '@turnstream/config';
import { compareStreamIds, logInfo, streamIdMs, trimmedPast } from '@turnstream/contracts';

export { type LogInfo, logInfo, trimmedPast } from '@turnstream/contracts';

/**
 * Where a client resuming after `after` stands, decided before its stream opens:
 * - `future`: `after` is later than the Redis server's clock. No log ever issued it; waiting for
 *   events after it would starve the client, so it is refused.
 * - `continue`: every event after `after` is still in the log.
 * - `gap`: events may be lost (the log was trimmed past `after`, or expired), or the log never issued
 *   `after` (its newest id is older: the log was restored from an older copy, or the id is made up).
 *   The client is told, reloads the history, and the stream replays strictly after `replayAfter`
 *   (`undefined`: the whole log).
 */
export type ResumeCheck =
  | { kind: 'future'; serverTimeMs: string }
  | { kind: 'continue' }
  | { kind: 'gap'; oldestId: string | null; replayAfter: string | undefined };

/** `TIME` of the server holding `log` (on a Cluster, the master of its slot, whose clock issues its ids). */
async function serverTime(redis: RedisClient, log: string): Promise<string[]> {
  return ((await redis.eval("return redis.call('TIME')", 1, log)) as unknown[]).map(String);
}

export async function checkResume(redis: RedisClient, log: string, after: string): Promise<ResumeCheck> {
  const [seconds, micros] = await serverTime(redis, log);
  const serverTimeMs = String(BigInt(seconds ?? 0) * 1000n + BigInt(micros ?? 0) / 1000n);
  if (BigInt(streamIdMs(after)) > BigInt(serverTimeMs)) return { kind: 'future', serverTimeMs };
  const info = await logInfo(redis, log);
  if (info && compareStreamIds(after, info.lastGeneratedId) > 0) {
    return { kind: 'gap', oldestId: info.oldestId, replayAfter: undefined };
  }
  if (trimmedPast(info, after)) return { kind: 'gap', oldestId: info?.oldestId ?? null, replayAfter: after };
  return { kind: 'continue' };
}
