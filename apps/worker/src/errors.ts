/**
 * The first word of a `TransientTurnError`'s message: what BullMQ keeps of a failed job is its message
 * (`failedReason`), and a job failed for good is classified from it (`classifyJobFailure`).
 */
export const TRANSIENT_REASON = 'transient';

/** A failure the job should retry after `backoffMs` (the worker's backoff strategy reads it). */
export class TransientTurnError extends Error {
  override name = 'TransientTurnError';
  constructor(
    message: string,
    readonly backoffMs: number,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`${TRANSIENT_REASON}: ${message}`, options);
  }
}

/** This worker no longer owns the turn (its fence is stale): it must write nothing more. */
export class FencedOutError extends Error {
  override name = 'FencedOutError';
}

/**
 * A reset ended the session this turn started with while it ran, so the turn can no longer clear or
 * rebuild it: the message predates the conversation's new session and its turn must not go on.
 */
export class SessionEndedError extends Error {
  override name = 'SessionEndedError';
}

/**
 * The cancel listener's pub/sub connection ended for good (Redis reconnects stopped): cancels no longer
 * reach this worker's running turns until the process restarts.
 */
export class CancelSubscriberEndedError extends Error {
  override name = 'CancelSubscriberEndedError';
  constructor() {
    super('the cancel subscriber connection ended for good (Redis reconnects stopped)');
  }
}
