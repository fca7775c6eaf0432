/**
 * A Claude stream started before the turn may publish anything: it reads from the source at once and
 * holds every chunk until the turn consumes it (after the fence is confirmed). The request's latency
 * overlaps the turn's bookkeeping instead of following it. Iterated once; an error of the source is
 * thrown to the consumer after the chunks that came before it.
 */
export class EarlyStream<T> implements AsyncIterable<T> {
  private readonly held: T[] = [];
  private next = 0;
  private ended = false;
  private failure: { error: unknown } | null = null;
  private wake: (() => void) | null = null;
  private consumed = false;

  constructor(source: AsyncIterable<T>) {
    void this.pump(source);
  }

  /** Chunks received and not yet consumed (for tests and logs). */
  get pending(): number {
    return this.held.length - this.next;
  }

  private async pump(source: AsyncIterable<T>): Promise<void> {
    try {
      for await (const chunk of source) {
        this.held.push(chunk);
        this.notify();
      }
    } catch (error) {
      this.failure = { error };
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

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw new Error('an early stream is consumed once');
    this.consumed = true;
    for (;;) {
      if (this.next < this.held.length) {
        const chunk = this.held[this.next]!;
        this.held[this.next++] = undefined as T;
        yield chunk;
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
