import type { Redis } from 'ioredis';
import { compareStreamIds, streamIdMs } from './stream-ids.ts';

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

export interface LogInfo {
  /** Entries in the log now. */
  length: number;
  /** Entries ever added (more than `length` once trimmed). */
  added: number;
  oldestId: string | null;
  /** The newest id the log ever issued (kept even when that entry was trimmed). */
  lastGeneratedId: string;
}

/** `XINFO STREAM` of a log, or null when the key does not exist (never written, or expired). */
export async function logInfo(redis: Redis, log: string): Promise<LogInfo | null> {
  let info: unknown[];
  try {
    info = (await redis.xinfo('STREAM', log)) as unknown[];
  } catch (err) {
    if (/no such key/i.test(String(err))) return null;
    throw err;
  }
  return parseLogInfo(info);
}

function parseLogInfo(info: unknown[]): LogInfo {
  const field = (name: string) => {
    const i = info.indexOf(name);
    return i < 0 ? undefined : info[i + 1];
  };
  const length = Number(field('length'));
  const first = field('first-entry') as [string, string[]] | null | undefined;
  return {
    length,
    added: Number(field('entries-added') ?? length),
    oldestId: first?.[0] ?? null,
    lastGeneratedId: String(field('last-generated-id') ?? '0-0'),
  };
}

/** Whether resuming after `after` skips events (see {@link ResumeCheck}); `after` must be a stream id. */
export function trimmedPast(info: LogInfo | null, after: string): boolean {
  if (!info) return true;
  const trimmed = info.added > info.length;
  return trimmed && (info.oldestId === null || compareStreamIds(after, info.oldestId) < 0);
}

export async function checkResume(redis: Redis, log: string, after: string): Promise<ResumeCheck> {
  const [seconds, micros] = (await redis.time()).map(String);
  const serverTimeMs = String(BigInt(seconds ?? 0) * 1000n + BigInt(micros ?? 0) / 1000n);
  if (BigInt(streamIdMs(after)) > BigInt(serverTimeMs)) return { kind: 'future', serverTimeMs };
  const info = await logInfo(redis, log);
  if (info && compareStreamIds(after, info.lastGeneratedId) > 0) {
    return { kind: 'gap', oldestId: info.oldestId, replayAfter: undefined };
  }
  if (trimmedPast(info, after)) return { kind: 'gap', oldestId: info?.oldestId ?? null, replayAfter: after };
  return { kind: 'continue' };
}
