import { isEventFrame, readSseFrames, type SseFrame } from './sse-parse.ts';
import { withTimeout } from './wait.ts';

export interface SseReaderOptions {
  headers?: Record<string, string>;
  /** Sent as `Last-Event-ID` on the first connection. */
  lastEventId?: string;
  /** `next()` rejects when no frame arrives for this long (a guard against a hung stream; default 30 s). */
  idleTimeoutMs?: number;
}

/**
 * A fetch-based SSE client for tests. `next()` returns the next event frame (comments are collected in
 * `comments`), `null` once the server ended the response. `lastEventId` follows the ids received, and
 * `reconnect()` opens a new response resuming after it (the `Last-Event-ID` header), as browsers do.
 */
export class SseReader {
  readonly comments: string[] = [];
  /** Every event frame received, across reconnects. */
  readonly events: SseFrame[] = [];
  status = 0;
  headers: Headers | undefined;
  ended = false;
  lastEventId: string | undefined;
  connections = 0;
  /** The body of a non-2xx answer. */
  errorBody = '';
  private controller = new AbortController();
  private frames: AsyncGenerator<SseFrame> | undefined;

  constructor(
    readonly url: string,
    private readonly opts: SseReaderOptions = {},
  ) {
    this.lastEventId = opts.lastEventId;
  }

  /** Connect; resolves with the status once the response headers arrived. */
  async open(): Promise<number> {
    this.controller = new AbortController();
    const res = await fetch(this.url, {
      headers: {
        accept: 'text/event-stream',
        ...this.opts.headers,
        ...(this.lastEventId !== undefined ? { 'last-event-id': this.lastEventId } : {}),
      },
      signal: this.controller.signal,
    });
    this.connections++;
    this.status = res.status;
    this.headers = res.headers;
    this.ended = false;
    if (!res.ok) {
      this.errorBody = await res.text().catch(() => '');
      this.ended = true;
      this.frames = undefined;
      return res.status;
    }
    if (!res.body) throw new Error(`SSE ${this.url}: no body`);
    this.frames = readSseFrames(res.body);
    return res.status;
  }

  /** Close the current response and open a new one after `lastEventId`. */
  async reconnect(): Promise<number> {
    this.controller.abort();
    return this.open();
  }

  /** The next event frame, or null at the end of the response. */
  async next(): Promise<SseFrame | null> {
    for (;;) {
      const frame = await this.nextFrame();
      if (!frame) return null;
      if (isEventFrame(frame)) return frame;
    }
  }

  /** Read `n` event frames (throws when the stream ends first). */
  async take(n: number): Promise<SseFrame[]> {
    const out: SseFrame[] = [];
    while (out.length < n) {
      const f = await this.next();
      if (!f) throw new Error(`SSE ${this.url} ended after ${out.length} of ${n} events`);
      out.push(f);
    }
    return out;
  }

  /** Read to the end of the response. */
  async rest(): Promise<SseFrame[]> {
    const out: SseFrame[] = [];
    for (let f = await this.next(); f; f = await this.next()) out.push(f);
    return out;
  }

  /** Read until a comment satisfying `predicate` arrived (event frames are kept in `events`). */
  async waitForComment(predicate: (c: string) => boolean): Promise<void> {
    while (!this.comments.some(predicate)) {
      const frame = await this.nextFrame();
      if (!frame) throw new Error(`SSE ${this.url} ended before the comment`);
    }
  }

  close(): void {
    this.controller.abort();
    this.ended = true;
  }

  private async nextFrame(): Promise<SseFrame | null> {
    if (this.ended || !this.frames) return null;
    let r: IteratorResult<SseFrame>;
    try {
      r = await withTimeout(
        this.frames.next(),
        this.opts.idleTimeoutMs ?? 30_000,
        `an SSE frame from ${this.url}`,
      );
    } catch (err) {
      if (this.controller.signal.aborted) {
        this.ended = true;
        return null;
      }
      throw err;
    }
    if (r.done) {
      this.ended = true;
      return null;
    }
    const frame = r.value;
    this.comments.push(...frame.comments);
    if (isEventFrame(frame)) {
      this.events.push(frame);
      if (frame.id !== undefined) this.lastEventId = frame.id;
    }
    return frame;
  }
}

export interface FollowOptions extends SseReaderOptions {
  /** Stop after the event frame for which this holds (it is included). */
  until: (frame: SseFrame) => boolean;
  /** Give up after this many reconnects (default 20). */
  maxReconnects?: number;
  /** Called when a connection drops before `until` held; the default reconnects at once. */
  onDrop?: (reader: SseReader, error: unknown) => void | Promise<void>;
}

/**
 * Follow a stream to the frame `until` accepts, reconnecting with `Last-Event-ID` whenever the
 * connection ends or fails first (a restarted replica, a proxy timeout). Returns every event frame
 * received across the connections, in order.
 */
export async function followSse(url: string, opts: FollowOptions): Promise<SseFrame[]> {
  const reader = new SseReader(url, opts);
  const max = opts.maxReconnects ?? 20;
  try {
    for (let attempt = 0; ; attempt++) {
      let dropped: unknown = null;
      try {
        const status = attempt === 0 ? await reader.open() : await reader.reconnect();
        if (status !== 200) throw new Error(`SSE ${url} answered ${status}`);
        for (let f = await reader.next(); f; f = await reader.next()) {
          if (opts.until(f)) return reader.events;
        }
      } catch (err) {
        dropped = err;
      }
      if (attempt >= max) throw new Error(`SSE ${url}: gave up after ${max} reconnects`, { cause: dropped });
      await opts.onDrop?.(reader, dropped);
    }
  } finally {
    reader.close();
  }
}
