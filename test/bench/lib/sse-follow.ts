import { openSse, type SseFrame, type SseStream } from './http.ts';

export interface FollowedSse {
  close(): void;
  /** How many times the stream was resumed (after a `stream.error` or a dropped connection). */
  readonly resumes: number;
}

export interface FollowOptions {
  /** First delay before a reopen that failed is tried again (ms); doubles up to `maxBackoffMs`. Default 100. */
  backoffMs?: number;
  /** Default 2,000. */
  maxBackoffMs?: number;
  /**
   * Resume a stream that ended without `stream.error` too. Default true; off for servers that end
   * their streams on their own (the baselines' relays end theirs after the last event).
   */
  resumeOnDrop?: boolean;
  /** Called at each resume, with why: `stream.error` or `dropped`. */
  onResume?: (reason: 'stream.error' | 'dropped') => void;
}

/**
 * An SSE stream followed as a real client follows the API's: a `stream.error` event (the server could
 * not go on: the stream ends after it) or (unless `resumeOnDrop` is false) a dropped connection is resumed with `Last-Event-ID` after
 * the last event received, at once, then with backoff while reopening fails (a replica that lost Redis
 * answers 503). `onFrame` gets every event frame except `stream.error`. Resolves once the first open
 * succeeded (rejects if it did not).
 */
export async function followSse(
  url: string,
  headers: Record<string, string>,
  onFrame: (frame: SseFrame) => void,
  opts: FollowOptions = {},
): Promise<FollowedSse> {
  const backoffMs = opts.backoffMs ?? 100;
  const maxBackoffMs = opts.maxBackoffMs ?? 2000;
  let lastId: string | undefined;
  let closed = false;
  let resumes = 0;
  // The stream being read; undefined while one opens (its first frames may arrive before that).
  let current: SseStream | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reason: 'stream.error' | 'dropped' = 'dropped';

  const receive = (frame: SseFrame) => {
    if (frame.id !== undefined) lastId = frame.id;
    if (frame.event === 'stream.error') {
      reason = 'stream.error';
      current?.close(); // the server ends it anyway; resume at once
      return;
    }
    onFrame(frame);
  };
  const open = () =>
    openSse(url, lastId === undefined ? headers : { ...headers, 'last-event-id': lastId }, receive);
  const watch = (stream: SseStream) => {
    current = stream;
    if (reason === 'stream.error') stream.close();
    void stream.ended.then(() => {
      current = undefined;
      if (closed || (reason === 'dropped' && opts.resumeOnDrop === false)) return;
      resumes++;
      opts.onResume?.(reason);
      reason = 'dropped';
      reopen(0);
    });
  };
  const reopen = (failures: number) => {
    const delay = failures === 0 ? 0 : Math.min(maxBackoffMs, backoffMs * 2 ** (failures - 1));
    timer = setTimeout(() => {
      if (closed) return;
      open().then(
        (s) => (closed ? s.close() : watch(s)),
        () => reopen(failures + 1),
      );
    }, delay);
  };

  watch(await open());
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      current?.close();
    },
    get resumes() {
      return resumes;
    },
  };
}
