/** Chunks an early stream holds at most before it stops reading its source (see {@link EarlyStream}). */
export const EARLY_STREAM_MAX_HELD = 256;

export interface EarlyStreamOptions {
  /** Stops the stream: its source is closed (its `return()` called) and nothing more is read. */
  signal: AbortSignal;
  /** Chunks held (received, not yet consumed) before reading pauses. Default {@link EARLY_STREAM_MAX_HELD}. */
  maxHeld?: number;
}

/**
 * A Claude stream started before the turn may publish anything: it reads from the source at once and
 * holds the chunks until the turn consumes them (after the fence is confirmed). The request's latency
 * overlaps the turn's bookkeeping instead of following it. Bounded: with `maxHeld` chunks waiting it
 * stops reading (the source, and the connection under it, wait) until the consumer takes some. Stopped
 * by `signal` (the turn lost its fence, or did not use the request): the source is closed at once, also
 * while reading is paused. Iterated once; an error of the source is thrown to the consumer after the
 * chunks that came before it.
 */
export class EarlyStream<T> implements AsyncIterable<T> {
  private held: T[] = [];
  private next = 0;
  private ended = false;
  private failure: { error: unknown } | null = null;
  private wake: (() => void) | null = null;
  private space: (() => void) | null = null;
  private consumed = false;
  private readonly maxHeld: number;
  private readonly signal: AbortSignal;

  constructor(source: AsyncIterable<T>, opts: EarlyStreamOptions) {
    this.maxHeld = opts.maxHeld ?? EARLY_STREAM_MAX_HELD;
    this.signal = opts.signal;
    this.signal.addEventListener('abort', () => this.makeSpace(), { once: true });
    void this.pump(source[Symbol.asyncIterator]());
  }

  /** Chunks received and not yet consumed (for tests and logs). */
  get pending(): number {
    return this.held.length - this.next;
  }

  private async pump(source: AsyncIterator<T>): Promise<void> {
    try {
      for (;;) {
        if (this.pending >= this.maxHeld) await new Promise<void>((resolve) => (this.space = resolve));
        if (this.signal.aborted) {
          // The consumer (if any) sees the stop as an error, never as a reply that ended early.
          this.failure = { error: new EarlyStreamStoppedError() };
          await source.return?.();
          break;
        }
        const step = await source.next();
        if (step.done) break;
        this.held.push(step.value);
        this.notify();
      }
    } catch (error) {
      this.failure ??= { error };
    } finally {
      this.ended = true;
      this.notify();
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private makeSpace(): void {
    const space = this.space;
    this.space = null;
    space?.();
  }

  /** The next held chunk; the array is compacted once most of it has been consumed. */
  private take(): T {
    const chunk = this.held[this.next]!;
    this.held[this.next++] = undefined as T;
    if (this.next >= 64 && this.next * 2 >= this.held.length) {
      this.held = this.held.slice(this.next);
      this.next = 0;
    }
    if (this.pending < this.maxHeld) this.makeSpace();
    return chunk;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw new Error('an early stream is consumed once');
    this.consumed = true;
    for (;;) {
      if (this.pending > 0) {
        yield this.take();
        continue;
      }
      if (this.failure) throw this.failure.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

/** An early stream was stopped by its signal before its source ended. */
export class EarlyStreamStoppedError extends Error {
  override name = 'EarlyStreamStoppedError';
  constructor() {
    super('the early Claude stream was stopped');
  }
}
