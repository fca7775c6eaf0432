/** A failure the job should retry after `backoffMs` (the worker's backoff strategy reads it). */
export class TransientTurnError extends Error {
  override name = 'TransientTurnError';
  constructor(
    message: string,
    readonly backoffMs: number,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** This worker no longer owns the turn (its fence is stale): it must write nothing more. */
export class FencedOutError extends Error {
  override name = 'FencedOutError';
}
