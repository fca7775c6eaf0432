import { ReplyError } from 'ioredis';
import { MalformedEntryError } from './entries.ts';

/** Default of `EventSubscriberOptions.readRetryMs` (the API's `SSE_READ_RETRY_MS`). */
export const DEFAULT_READ_RETRY_MS = 10_000;

/** First pause after a failed log read; doubled on each failure in a row, up to {@link MAX_PAUSE_MS}. */
const FIRST_PAUSE_MS = 50;
const MAX_PAUSE_MS = 1000;

/**
 * Replies of a server that is starting, busy or failing over: the same read succeeds later. Any other
 * reply (`WRONGTYPE`, ...) would fail again.
 */
const TRANSIENT_REPLIES = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY)\b/;

/**
 * Whether a failed log read may succeed when retried: the connection failed (closed, reconnecting,
 * `MaxRetriesPerRequestError`, a timeout) or Redis answered with a transient reply. A refusal, or an
 * entry that cannot be decoded, is not retried.
 */
export function isRetryableReadError(error: Error): boolean {
  if (error instanceof ReplyError) return TRANSIENT_REPLIES.test(error.message);
  return !(error instanceof MalformedEntryError || error instanceof TypeError || error instanceof RangeError);
}

/** Pause before retry number `attempt` (1-based) of a failed read. */
export function readRetryPauseMs(attempt: number): number {
  return Math.min(FIRST_PAUSE_MS * 2 ** (attempt - 1), MAX_PAUSE_MS);
}

/** A log read that failed and will be retried (for `EventSubscriberOptions.onReadRetry`). */
export interface ReadRetry {
  conversationId: string;
  /** Failed reads in a row so far (1 for the first failure). */
  attempt: number;
  error: Error;
}
