import type { Cluster, Redis } from 'ioredis';
import { compareStreamIds } from './stream-ids.ts';

/** What `XINFO STREAM` tells about a conversation log. */
export interface LogInfo {
  /** Entries in the log now. */
  length: number;
  /** Entries ever added (more than `length` once trimmed). */
  added: number;
  /** The oldest entry's id, or null when the log is empty. */
  oldestId: string | null;
  /** The newest id the log ever issued (kept even when that entry was trimmed). */
  lastGeneratedId: string;
}

/** `XINFO STREAM` of a conversation log, or null when the key does not exist (never written, or expired). */
export async function logInfo(redis: Redis | Cluster, log: string): Promise<LogInfo | null> {
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

/**
 * Whether resuming after `after` skips events: the log was trimmed past it, or it expired (no log).
 * `after` must be a stream id.
 */
export function trimmedPast(info: LogInfo | null, after: string): boolean {
  if (!info) return true;
  const trimmed = info.added > info.length;
  return trimmed && (info.oldestId === null || compareStreamIds(after, info.oldestId) < 0);
}
