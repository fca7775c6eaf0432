import type { Cluster, Redis } from 'ioredis';
import { type DeliveredEvent, isTerminalEvent, type TurnEvent } from '../events.ts';
import { EVENT_FIELD } from '../stream-keys.ts';
import { logInfo, trimmedPast } from '../stream-log.ts';

/**
 * Told instead of events that are gone: the log no longer reaches `after` (trimmed, or expired). The
 * SSE endpoint sends the same as a `stream.gap` frame. Reload the history, then go on with the events.
 */
export interface StreamGap {
  /** No log id: this is a notice, not an event of the log. */
  id: null;
  /** The notice itself. */
  event: {
    /** Always `stream.gap`. */
    type: 'stream.gap';
    /** The id the reader asked to resume after. */
    after: string;
    /** The oldest event id still in the log, or null when the log is gone. */
    oldestId: string | null;
  };
}

/** What `TurnsClient.events` yields: the log's events in order, or a gap notice first. */
export type ClientEvent = DeliveredEvent | StreamGap;

/** Options of {@link readEventLog}. */
export interface ReadEventLogOptions {
  /** Resume strictly after this event id. Default: the whole log still kept. */
  after?: string;
  /** Only this message's events; the iteration ends after its terminal event. */
  messageId?: string;
  /** Ends the iteration (the iterator throws the signal's reason). */
  signal?: AbortSignal;
  /** Longest single blocking read, in ms. Default 5000. */
  blockMs?: number;
}

function decode(fields: string[]): TurnEvent | null {
  const index = fields.indexOf(EVENT_FIELD);
  const body = index >= 0 && index % 2 === 0 ? fields[index + 1] : undefined;
  if (body === undefined) return null;
  try {
    return JSON.parse(body) as TurnEvent;
  } catch {
    return null;
  }
}

/**
 * Follow one conversation log (`XREAD BLOCK` on a connection of its own, which the iterator closes):
 * the events kept after `after`, then new ones as they are written, in log order, each exactly once.
 * Resumable: pass the last id you handled as `after`.
 */
export async function* readEventLog(
  redis: Redis | Cluster,
  logKey: string,
  opts: ReadEventLogOptions = {},
): AsyncGenerator<ClientEvent, void, undefined> {
  const { signal, messageId } = opts;
  const onAbort = () => redis.disconnect();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let cursor = opts.after ?? '0-0';
    if (opts.after !== undefined) {
      const info = await logInfo(redis, logKey);
      if (trimmedPast(info, opts.after)) {
        yield {
          id: null,
          event: { type: 'stream.gap', after: opts.after, oldestId: info?.oldestId ?? null },
        };
        cursor = '0-0';
      }
    }
    for (;;) {
      signal?.throwIfAborted();
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await redis.xread('COUNT', 500, 'BLOCK', opts.blockMs ?? 5000, 'STREAMS', logKey, cursor)) as
          | [string, [string, string[]][]][]
          | null;
      } catch (err) {
        signal?.throwIfAborted();
        throw err;
      }
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          cursor = id;
          const event = decode(fields);
          if (!event || (messageId !== undefined && event.messageId !== messageId)) continue;
          yield { id, event };
          if (messageId !== undefined && isTerminalEvent(event)) return;
        }
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    redis.disconnect();
  }
}
