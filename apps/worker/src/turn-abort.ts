/** Why a running turn was aborted from outside. */
export type AbortReason = 'cancelled' | 'shutdown' | 'lease_lost' | 'fenced_out' | 'lock_lost';

/** The error a turn's signal aborts with: it carries the typed reason. */
export class TurnAbortedError extends Error {
  override name = 'TurnAbortedError';
  constructor(readonly reason: AbortReason) {
    super(`turn aborted: ${reason}`);
  }
}

/**
 * The abort of one running turn, with its reason kept as a typed value (the first reason wins).
 * The signal goes to the Claude call; the runner reads `reason`, never the signal's.
 */
export class TurnAbort {
  private readonly controller = new AbortController();
  private first: AbortReason | null = null;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the turn was aborted, or null while it runs on. */
  get reason(): AbortReason | null {
    return this.first;
  }

  abort(reason: AbortReason): void {
    if (this.first) return;
    this.first = reason;
    this.controller.abort(new TurnAbortedError(reason));
  }

  /** Abort with `reason` once `signal` aborts (the lease's renewal, BullMQ's lock). */
  follow(signal: AbortSignal | undefined, reason: AbortReason): void {
    if (!signal) return;
    if (signal.aborted) this.abort(reason);
    else signal.addEventListener('abort', () => this.abort(reason), { once: true });
  }
}
