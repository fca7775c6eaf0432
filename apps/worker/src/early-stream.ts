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
 *
 * Once the consumer has caught up (nothing held, waiting for the next chunk), the reading is handed
 * over: the chunk being read is the last one held, and from then on the consumer's `next` is the
 * source's own. A held stream so costs no buffer, no second reader and no extra promise per chunk for
 * the rest of its life (under load these per-chunk objects outlived scavenges and filled the old
 * generation with garbage).
 */
export class EarlyStream<T> implements AsyncIterable<T> {
  private held: T[] = [];
  private next = 0;
  private ended = false;
  private failure: { error: unknown } | null = null;
  private wake: (() => void) | null = null;
  private space: (() => void) | null = null;
  private consumed = false;
  /** The consumer caught up and asked for the reading: the pump stops after the read in flight. */
  private handOver = false;
  /** The pump stopped for the hand-over: the consumer reads the source itself. */
  private direct = false;
  private readonly source: AsyncIterator<T>;
  private readonly maxHeld: number;
  private readonly signal: AbortSignal;

  constructor(source: AsyncIterable<T>, opts: EarlyStreamOptions) {
    this.maxHeld = opts.maxHeld ?? EARLY_STREAM_MAX_HELD;
    this.signal = opts.signal;
    this.source = source[Symbol.asyncIterator]();
    this.signal.addEventListener('abort', () => this.makeSpace(), { once: true });
    void this.pump();
  }

  /** Chunks received and not yet consumed (for tests and logs). */
  get pending(): number {
    return this.held.length - this.next;
  }

  /**
   * Take the chunks held right now from the front while `accept` says so (none once iteration began):
   * the turn publishes them together with its opening events instead of one publish later. The rest,
   * and what is still to come, is iterated as usual.
   */
  takeHeld<S extends T>(accept: (chunk: T) => chunk is S): S[] {
    const taken: S[] = [];
    if (this.consumed) return taken;
    while (this.pending > 0 && accept(this.held[this.next]!)) taken.push(this.take() as S);
    return taken;
  }

  /** Whether the consumer reads the source itself now (for tests). */
  get handedOver(): boolean {
    return this.direct;
  }

  private async pump(): Promise<void> {
    let handed = false;
    try {
      for (;;) {
        if (this.pending >= this.maxHeld) await new Promise<void>((resolve) => (this.space = resolve));
        if (this.signal.aborted) {
          // The consumer (if any) sees the stop as an error, never as a reply that ended early.
          this.failure = { error: new EarlyStreamStoppedError() };
          await this.source.return?.();
          break;
        }
        if (this.handOver) {
          handed = true;
          break;
        }
        const step = await this.source.next();
        if (step.done) break;
        this.held.push(step.value);
        this.notify();
      }
    } catch (error) {
      this.failure ??= { error };
    } finally {
      if (handed) this.direct = true;
      else this.ended = true;
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

  /** The consumer's next chunk while the pump still reads: held ones first, then ask for the reading. */
  private async nextHeld(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.pending > 0) return { done: false, value: this.take() };
      if (this.failure) throw this.failure.error;
      if (this.ended) return { done: true, value: undefined };
      if (this.direct) return this.nextDirect();
      this.handOver = true;
      // The pump is reading (nothing is held, so it is not paused): wait for that chunk, or its stop.
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** The consumer reads the source itself; a stop is still an error, and closes the source. */
  private nextDirect(): Promise<IteratorResult<T>> {
    if (this.signal.aborted) {
      this.failure ??= { error: new EarlyStreamStoppedError() };
      const error = this.failure.error;
      return Promise.resolve(this.source.return?.()).then(() => Promise.reject(error));
    }
    return this.source.next();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw new Error('an early stream is consumed once');
    this.consumed = true;
    return {
      next: () => (this.direct && this.pending === 0 ? this.nextDirect() : this.nextHeld()),
      return: async (): Promise<IteratorResult<T>> => {
        // The consumer stopped early: a source it reads itself is closed (as a for-await would); a
        // source the pump still reads is stopped by the signal (the turn discards the request).
        if (this.direct) await this.source.return?.();
        return { done: true, value: undefined };
      },
    };
  }
}

/** An early stream was stopped by its signal before its source ended. */
export class EarlyStreamStoppedError extends Error {
  override name = 'EarlyStreamStoppedError';
  constructor() {
    super('the early Claude stream was stopped');
  }
}
