import { type DeltaEvent, isDeltaEvent, type TurnEvent } from '@turnstream/contracts';
import { CoalescerClosedError } from './errors.ts';

export interface ChunkCoalescerOptions {
  /**
   * How long text deltas are merged before they are flushed, in milliseconds. Default `30`. A function
   * is asked each time a merge starts, so the window can follow the load (a worker widens it as it
   * holds more streams).
   */
  windowMs?: number | (() => number);
  /** Maximum text length of one merged delta; a full delta is flushed at once. Default `2048`. */
  maxChars?: number;
  /**
   * Writes a batch of events, in order (typically `TurnStreams.publish`). Never called
   * concurrently. A rejection (or a thrown stale-fence result) stops the coalescer: see `push`.
   */
  flush: (events: TurnEvent[]) => Promise<void>;
}

/**
 * Merges consecutive text deltas (`chunk`, and separately `thinking`) of the same message into
 * fewer, larger events before they are published.
 *
 * - The first delta of each kind for a message (and again after any other event of that message,
 *   e.g. `turn.reset`) is flushed at once, so a slow stream still shows its first text immediately.
 * - Later deltas are merged for `windowMs` (read when the merge starts), or until a merged text reaches `maxChars`
 *   (a single delta longer than `maxChars` is never split).
 * - Any other event flushes what is pending together with itself, in order.
 * - Batches are flushed one at a time, in order; deltas arriving meanwhile keep merging.
 *
 * After a flush fails the coalescer is stopped: every later `push`, `flush` and `close` throws
 * that error, and pending events are never flushed (the stream has a gap; end or reset the turn).
 */
export class ChunkCoalescer {
  private readonly windowMs: () => number;
  private readonly maxChars: number;
  private readonly write: (events: TurnEvent[]) => Promise<void>;
  private pending: TurnEvent[] = [];
  /** The last pending event when it is a delta that may still grow. */
  private open: DeltaEvent | null = null;
  /** Whether {@link open} is our own copy (else it is the caller's event, copied before it grows). */
  private openOwned = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushQueued = false;
  private tail: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | null = null;
  private closed = false;
  /** Per message, the delta kinds already seen since its last non-delta event. */
  private readonly seen = new Map<string, Set<DeltaEvent['type']>>();

  constructor(opts: ChunkCoalescerOptions) {
    const windowMs = opts.windowMs ?? 30;
    this.maxChars = opts.maxChars ?? 2048;
    if (typeof windowMs === 'number') {
      if (!Number.isFinite(windowMs) || windowMs < 0) {
        throw new RangeError(`windowMs must be a non-negative number, got ${windowMs}`);
      }
      this.windowMs = () => windowMs;
    } else {
      this.windowMs = windowMs;
    }
    if (!Number.isSafeInteger(this.maxChars) || this.maxChars <= 0) {
      throw new RangeError(`maxChars must be a positive integer, got ${this.maxChars}`);
    }
    this.write = opts.flush;
  }

  /** Adds an event. Throws the error of an earlier failed flush, or after `close`. */
  push(event: TurnEvent): void {
    this.throwIfFailed();
    if (this.closed) throw new CoalescerClosedError();
    if (!isDeltaEvent(event)) {
      this.seen.delete(event.messageId);
      this.pending.push(event);
      this.open = null;
      this.requestFlush();
      return;
    }
    const kinds = this.seen.get(event.messageId) ?? new Set();
    this.seen.set(event.messageId, kinds);
    const first = !kinds.has(event.type);
    kinds.add(event.type);

    const open = this.open;
    if (
      open &&
      open.type === event.type &&
      open.messageId === event.messageId &&
      open.text.length + event.text.length <= this.maxChars
    ) {
      if (this.openOwned) open.text += event.text;
      else {
        // The caller's event is never changed: the merge goes into a copy, in its place.
        const merged = { ...open, text: open.text + event.text };
        this.pending[this.pending.length - 1] = merged;
        this.open = merged;
        this.openOwned = true;
      }
    } else {
      if (open && open.type === event.type && open.messageId === event.messageId) {
        this.requestFlush(); // the open delta is full
      }
      // Most deltas of a slow stream are flushed alone: copied only if another one merges into it.
      this.pending.push(event);
      this.open = event;
      this.openOwned = false;
    }
    if (first || (this.open?.text.length ?? 0) >= this.maxChars) this.requestFlush();
    else this.armTimer();
  }

  /** Flushes everything pushed so far and waits for it (and earlier flushes) to be written. */
  async flush(): Promise<void> {
    this.requestFlush();
    await this.tail;
    this.throwIfFailed();
  }

  /** Flushes what is pending and stops accepting events. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  private armTimer(): void {
    if (this.timer || this.flushQueued) return;
    this.timer = setTimeout(this.onTimer, this.windowMs());
  }

  // Made once per coalescer, not per delta: a held stream flushes nearly every delta on its own.
  private readonly onTimer = () => {
    this.timer = null;
    this.requestFlush();
  };

  /**
   * The queued flush: takes whatever is pending when it starts. A plain promise chain rather than an
   * async function (a held stream flushes nearly every delta on its own): the write's promise and one
   * `then`, no async frame.
   */
  private readonly runFlush = (): Promise<void> | undefined => {
    this.flushQueued = false;
    const batch = this.pending;
    this.pending = [];
    this.open = null;
    if (batch.length === 0 || this.failure) return undefined;
    try {
      return this.write(batch).then(undefined, this.onWriteFailed);
    } catch (error) {
      this.onWriteFailed(error);
      return undefined;
    }
  };

  private readonly onWriteFailed = (error: unknown): void => {
    this.failure = { error };
  };

  /** Queues one flush after the current one; it takes whatever is pending when it starts. */
  private requestFlush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.tail = this.tail.then(this.runFlush);
  }
}
