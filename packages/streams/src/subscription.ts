import type { DeliveredEvent } from '@turnstream/contracts';
import { LogReadError, SubscriberOverflowError } from './errors.ts';
import { isRetryableReadError, readRetryPauseMs } from './read-retry.ts';
import { compareStreamIds } from './stream-ids.ts';

/**
 * The events of one conversation, each exactly once and in log order: first what the log holds
 * after `after` (everything still in the log without it), then live events.
 * Single consumer: iterate it once (`for await`). Delivered objects are shared between the
 * subscriptions of a process: treat them as read-only.
 * Ends with `SubscriberOverflowError` when the consumer falls more than `highWaterMark` events
 * behind live delivery, with `LogReadError` when the log cannot be read (failed reads are retried for
 * `readRetryMs` first), with `SubscriberConnectionEndedError` when the pub/sub connection ended for
 * good, with the Redis error when Redis refused the channel subscription, and cleanly
 * (`done`) on `close()`, `break`, the abort signal or `EventSubscriber.close()`.
 */
export interface Subscription extends AsyncIterable<DeliveredEvent> {
  readonly conversationId: string;
  /**
   * Resolves once the subscription is live (channel subscribed and the log read up to now),
   * or once it has ended before that. Never rejects.
   */
  readonly ready: Promise<void>;
  /** Id of the last event handed to the consumer; initially the `after` option (or `null`). */
  readonly lastDeliveredId: string | null;
  /** Events buffered for the consumer and not yet pulled. */
  readonly buffered: number;
  /** true once the subscription has ended (closed, aborted, overflowed or failed). */
  readonly ended: boolean;
  /** Ends the subscription: pending and later pulls resolve `done`. Idempotent. */
  close(): void;
}

/** What a subscription needs from its `EventSubscriber`. */
export interface SubscriptionSource {
  /**
   * Settles when the channel subscription is confirmed (replaced on reconnect). A subscription lost
   * with its connection is not a rejection: it settles after the resubscription replaced it. Rejects
   * only when the subscription cannot be made (Redis refused it, the connection ended for good).
   */
  channelReady(): Promise<void>;
  /** Log events strictly after `after` (`null`: from the start), at most `count`. */
  read(after: string | null, count: number): Promise<DeliveredEvent[]>;
  /** How long reads failing in a row are retried before the subscription ends with `LogReadError`. */
  readonly readRetryMs: number;
  /** A read failed and will be retried; `attempt` counts the failures in a row (1, 2, ...). */
  readRetried(attempt: number, error: Error): void;
  /** Called once, when the subscription ends. */
  detach(subscription: LiveSubscription): void;
}

type Phase = 'waiting' | 'reading' | 'live' | 'ended';

interface Pull {
  resolve(result: IteratorResult<DeliveredEvent, undefined>): void;
  reject(error: Error): void;
}

const DONE: IteratorResult<DeliveredEvent, undefined> = { done: true, value: undefined };

/**
 * Catch-up reads the log page by page, paced by the consumer (a page is read only when it fits
 * under the high-water mark), so catching up never overflows, however long the log. Live batches
 * that arrive while a page read is in flight are buffered (dropped, and read from the log again,
 * when they would not fit under the high-water mark); batches that arrive between reads are
 * ignored, as the next read covers them. Once a read reaches the end of the log the buffered
 * batches are merged and the subscription is live: only then can it overflow. A reconnect of the
 * pub/sub connection (`requestSync`) goes back to catch-up from the last enqueued id.
 */
export class LiveSubscription implements Subscription, AsyncIterator<DeliveredEvent, undefined> {
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private phase: Phase = 'waiting';
  private queue: DeliveredEvent[] = [];
  /** Newest id enqueued (or the `after` option): anything not newer is a duplicate. */
  private cursor: string | null;
  private delivered: string | null;
  private readBuffer: DeliveredEvent[] = [];
  private readBufferDropped = false;
  private needRead = true;
  private syncing = false;
  private failure: Error | null = null;
  private pulls: Pull[] = [];
  private spaceWaiter: (() => void) | null = null;
  /** Failed reads in a row, and when the first of them failed. */
  private readFailures = 0;
  private failingSince = 0;
  private pauseTimer: NodeJS.Timeout | undefined;
  private pauseWaker: (() => void) | null = null;
  private readonly pageSize: number;
  private readonly onAbort = () => this.close();

  constructor(
    readonly conversationId: string,
    private readonly source: SubscriptionSource,
    private readonly highWaterMark: number,
    after: string | null,
    private readonly signal?: AbortSignal,
  ) {
    this.cursor = after;
    this.delivered = after;
    this.pageSize = Math.max(1, Math.min(500, Math.floor(highWaterMark / 2)));
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
  }

  get lastDeliveredId(): string | null {
    return this.delivered;
  }

  get buffered(): number {
    return this.queue.length;
  }

  get ended(): boolean {
    return this.phase === 'ended';
  }

  /** Begins catch-up; call once, after the subscription is registered on its channel. */
  start(): void {
    if (this.signal?.aborted) {
      this.close();
      return;
    }
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    void this.sync();
  }

  /** A live batch from the channel. */
  onLive(events: DeliveredEvent[]): void {
    if (this.phase === 'live') {
      this.enqueue(events);
      this.checkOverflow();
    } else if (this.phase === 'reading' && !this.readBufferDropped) {
      for (const event of events) this.readBuffer.push(event);
      if (this.readBuffer.length > this.highWaterMark) {
        this.readBuffer = [];
        this.readBufferDropped = true;
      }
    }
    // 'waiting': the next log read starts after this message was published, so it covers it.
  }

  /** Live messages may have been lost (pub/sub reconnect): catch up from the log again. */
  requestSync(): void {
    if (this.phase === 'ended') return;
    this.needRead = true;
    if (this.phase === 'live') this.phase = 'waiting';
    void this.sync();
  }

  close(): void {
    if (!this.finish()) return;
    for (const pull of this.pulls.splice(0)) pull.resolve(DONE);
  }

  /** Ends with `error` (the consumer's next pull rejects with it). Idempotent. */
  abort(error: Error): void {
    this.fail(error);
  }

  next(): Promise<IteratorResult<DeliveredEvent, undefined>> {
    const event = this.queue.shift();
    if (event) {
      this.delivered = event.id;
      this.wakeSpaceWaiter();
      return Promise.resolve({ done: false, value: event });
    }
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      return Promise.reject(failure);
    }
    if (this.phase === 'ended') return Promise.resolve(DONE);
    return new Promise((resolve, reject) => this.pulls.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<DeliveredEvent, undefined>> {
    this.close();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private async sync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      while (!this.ended) {
        const channelReady = this.source.channelReady();
        try {
          await channelReady;
        } catch (error) {
          if (this.source.channelReady() !== channelReady) continue; // resubscribed meanwhile
          throw error;
        }
        if (this.ended) return;
        await this.waitForSpace();
        if (this.ended) return;
        // A reconnect while waiting replaced the confirmation: wait for the new one first.
        if (this.source.channelReady() !== channelReady) continue;
        this.needRead = false;
        this.phase = 'reading';
        this.readBuffer = [];
        this.readBufferDropped = false;
        const page = await this.readPage();
        if (this.ended) return;
        if (page === null) continue; // failed; retried after a pause
        this.enqueue(page);
        const fits = this.queue.length + this.readBuffer.length <= this.highWaterMark;
        if (page.length < this.pageSize && !this.needRead && !this.readBufferDropped && fits) {
          // Everything published before the read is in `page`; everything after, in the buffer.
          this.enqueue(this.readBuffer);
          this.readBuffer = [];
          this.phase = 'live';
          this.resolveReady();
          return;
        }
        this.readBuffer = [];
        this.phase = 'waiting';
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.syncing = false;
    }
  }

  /**
   * One page of the log after the cursor, or `null` when the read failed and is to be retried (after a
   * pause: the connection reconnects meanwhile). Throws `LogReadError` once reads have failed for
   * longer than `readRetryMs`, or at once for an error that retrying cannot mend.
   */
  private async readPage(): Promise<DeliveredEvent[] | null> {
    try {
      const page = await this.source.read(this.cursor, this.pageSize);
      this.readFailures = 0;
      return page;
    } catch (caught) {
      const error = caught instanceof Error ? caught : new Error(String(caught));
      if (this.ended) return null;
      const now = Date.now();
      if (this.readFailures++ === 0) this.failingSince = now;
      if (!isRetryableReadError(error) || now - this.failingSince >= this.source.readRetryMs) {
        throw new LogReadError(this.delivered, this.readFailures, error);
      }
      this.source.readRetried(this.readFailures, error);
      this.phase = 'waiting';
      this.needRead = true;
      this.readBuffer = [];
      await this.pause(readRetryPauseMs(this.readFailures));
      return null;
    }
  }

  /** Resolves after `ms`, or at once when the subscription ends meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.pauseWaker = resolve;
      this.pauseTimer = setTimeout(() => {
        this.pauseWaker = null;
        resolve();
      }, ms);
    });
  }

  private enqueue(events: DeliveredEvent[]): void {
    for (const event of events) {
      if (this.cursor !== null && compareStreamIds(event.id, this.cursor) <= 0) continue;
      this.cursor = event.id;
      const pull = this.pulls.shift();
      if (pull) {
        this.delivered = event.id;
        pull.resolve({ done: false, value: event });
      } else {
        this.queue.push(event);
      }
    }
  }

  private checkOverflow(): void {
    if (this.queue.length > this.highWaterMark) {
      this.fail(new SubscriberOverflowError(this.delivered, this.highWaterMark));
    }
  }

  private waitForSpace(): Promise<void> {
    if (this.hasSpace()) return Promise.resolve();
    return new Promise((resolve) => {
      this.spaceWaiter = resolve;
    });
  }

  private hasSpace(): boolean {
    return this.phase === 'ended' || this.queue.length + this.pageSize <= this.highWaterMark;
  }

  private wakeSpaceWaiter(): void {
    if (this.spaceWaiter && this.hasSpace()) {
      const waiter = this.spaceWaiter;
      this.spaceWaiter = null;
      waiter();
    }
  }

  /** Ends with an error: the first pending (or next) pull rejects, later ones are `done`. */
  private fail(error: Error): void {
    if (!this.finish()) return;
    const [first, ...rest] = this.pulls.splice(0);
    if (first) first.reject(error);
    else this.failure = error;
    for (const pull of rest) pull.resolve(DONE);
  }

  /** Common end: frees buffers, detaches. Returns false when already ended. */
  private finish(): boolean {
    if (this.phase === 'ended') return false;
    this.phase = 'ended';
    this.queue = [];
    this.readBuffer = [];
    this.signal?.removeEventListener('abort', this.onAbort);
    this.wakeSpaceWaiter();
    clearTimeout(this.pauseTimer);
    this.pauseWaker?.();
    this.pauseWaker = null;
    this.resolveReady();
    this.source.detach(this);
    return true;
  }
}
