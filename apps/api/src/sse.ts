import type { ServerResponse } from 'node:http';
import type { DeliveredEvent } from '@turnstream/contracts';

/** Headers of every event-stream response. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/** One event as an SSE frame. JSON never contains a raw newline, so `data` is a single line. */
export function eventFrame(delivered: DeliveredEvent): string {
  return `id: ${delivered.id}\nevent: ${delivered.event.type}\ndata: ${JSON.stringify(delivered.event)}\n\n`;
}

/** A named event that is not part of the log (no `id:` line unless one is given). */
export function controlFrame(type: string, data: Record<string, unknown>, id?: string | null): string {
  return `${id ? `id: ${id}\n` : ''}event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

/** A comment line: ignored by clients, keeps proxies from timing the connection out. */
export function commentFrame(text: string): string {
  return `: ${text.replace(/\r?\n/g, ' ')}\n\n`;
}

/** How often a write blocked on a slow client checks whether its subscription has ended. */
const STOP_POLL_MS = 200;
/** How long an ended response may wait for a slow client to read its last bytes. */
const END_GRACE_MS = 30_000;

export type SseEndReason =
  | 'client_closed'
  | 'turn_ended'
  | 'overflow'
  | 'shutdown'
  | 'subscription_ended'
  | 'revoked'
  | 'error';

/**
 * The writing side of one SSE response, with backpressure: `send` resolves once the socket accepted
 * the frame (after 'drain' when `write()` returned false), so nothing accumulates in this process
 * beyond one frame. `signal` aborts when the client goes away or the server shuts down.
 */
export class SseConnection {
  private readonly controller = new AbortController();
  private ended = false;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Why the stream is ending; the first reason wins. */
  reason: SseEndReason | null = null;

  constructor(private readonly raw: ServerResponse) {
    raw.on('close', () => this.abort('client_closed'));
    // Write errors after a disconnect surface as 'close' as well; never as an unhandled error.
    raw.on('error', () => this.abort('client_closed'));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get closed(): boolean {
    return this.ended || this.raw.destroyed || this.raw.writableEnded;
  }

  /**
   * Send the status line and headers at once (clients see the stream open before the first event).
   * `headers` are the response's other headers (such as `x-request-id`).
   */
  open(headers: Record<string, string | number | string[] | undefined> = {}): void {
    this.raw.writeHead(200, { ...headers, ...SSE_HEADERS });
    this.raw.write(commentFrame('connected'));
  }

  /** Heartbeat comments every `ms`, skipped while the socket is backed up. */
  startHeartbeat(ms: number): void {
    this.heartbeat = setInterval(() => {
      if (!this.closed && !this.raw.writableNeedDrain) this.raw.write(commentFrame('heartbeat'));
    }, ms);
    this.heartbeat.unref();
  }

  /**
   * Write a frame: true when the socket took it, false when the stream is gone, both at once (no
   * promise per event); while the socket is backed up, a promise of the same once it drained, and
   * meanwhile `shouldStop` is polled (a subscription that ended meanwhile, e.g. overflowed, has
   * nothing more to wait for).
   */
  send(frame: string, shouldStop?: () => boolean): boolean | Promise<boolean> {
    if (this.closed) return false;
    if (this.raw.write(frame)) return true;
    return this.drained(shouldStop);
  }

  private async drained(shouldStop?: () => boolean): Promise<boolean> {
    await new Promise<void>((resolve) => {
      const poll = shouldStop
        ? setInterval(() => {
            if (shouldStop()) done();
          }, STOP_POLL_MS)
        : undefined;
      const done = () => {
        clearInterval(poll);
        this.raw.off('drain', done);
        this.raw.off('close', done);
        this.controller.signal.removeEventListener('abort', done);
        resolve();
      };
      this.raw.once('drain', done);
      this.raw.once('close', done);
      this.controller.signal.addEventListener('abort', done, { once: true });
    });
    return !this.closed;
  }

  /** Stop the stream (its loop sees `signal` aborted). */
  abort(reason: SseEndReason): void {
    this.reason ??= reason;
    // A reason of our own: an abort without one constructs a DOMException (with its stack) per stream.
    this.controller.abort(reason);
  }

  /**
   * End the response; `finalFrame` is written first when the socket is still writable. A client that
   * does not read what is still buffered within {@link END_GRACE_MS} is dropped.
   */
  end(finalFrame?: string): void {
    if (this.ended) return;
    clearInterval(this.heartbeat);
    this.ended = true;
    if (this.raw.destroyed || this.raw.writableEnded) return;
    if (finalFrame) this.raw.write(finalFrame);
    this.raw.end();
    if (this.raw.writableNeedDrain) {
      const timer = setTimeout(() => this.raw.destroy(), END_GRACE_MS);
      timer.unref();
      this.raw.once('close', () => clearTimeout(timer));
    }
  }

  /** Drop the socket without waiting for the client to read what is buffered. */
  destroy(): void {
    clearInterval(this.heartbeat);
    this.ended = true;
    this.raw.destroy();
  }
}

/**
 * Open SSE responses of this process, with the API key behind each (a stream token's is the key that
 * asked for it): a shutdown ends each with a final comment, a revocation ends those of its key.
 */
export class SseRegistry {
  private readonly open = new Map<SseConnection, { done: Promise<void>; keyId: string }>();

  get size(): number {
    return this.open.size;
  }

  /** Track `connection`, opened with `keyId`, until `done` settles. */
  track(connection: SseConnection, done: Promise<void>, keyId: string): void {
    this.open.set(connection, { done, keyId });
    void done.finally(() => this.open.delete(connection));
  }

  /** The distinct keys behind open streams. */
  keyIds(): string[] {
    return [...new Set([...this.open.values()].map((o) => o.keyId))];
  }

  /** End every stream opened with one of `keyIds`; returns how many. */
  revokeKeys(keyIds: readonly string[]): number {
    const revoked = new Set(keyIds);
    let ended = 0;
    for (const [connection, { keyId }] of this.open) {
      if (!revoked.has(keyId)) continue;
      connection.abort('revoked');
      ended++;
    }
    return ended;
  }

  /** Ask every stream to end (each writes a final comment) and wait for them. */
  async closeAll(): Promise<void> {
    for (const connection of this.open.keys()) connection.abort('shutdown');
    await Promise.allSettled([...this.open.values()].map((o) => o.done));
  }
}
