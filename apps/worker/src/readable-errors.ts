/** Texts of the error messages a user reads in the history (never provider internals). */
export function readableSessionError(recovery: boolean): string {
  return recovery
    ? 'The conversation context could not be restored for this message. Your next message starts a fresh session.'
    : 'The assistant session expired. Your next message starts a fresh session.';
}

export function readableFatal(code: string): string {
  switch (code) {
    case 'claude_auth':
    case 'claude_permission':
      return 'The assistant is not configured correctly (credentials). An operator has to fix this.';
    case 'claude_billing':
      return 'The assistant is unavailable: the account has reached its spending limit.';
    case 'claude_not_found':
      return "The conversation's model is not available.";
    default:
      return 'The assistant could not answer this message.';
  }
}

export function readableTransientExhausted(): string {
  return 'The assistant is unavailable right now. Please try again.';
}

/** An unexpected error on every attempt of the job (not a Claude answer, not a worker death). */
export const INTERNAL_ERROR_TEXT =
  'The assistant could not answer this message because of an internal error.';

/** A message every worker taking it stopped on (crashed or froze) more times than the stall budget. */
export const STALL_EXHAUSTED_TEXT =
  'The assistant could not answer this message: every worker that took it stopped before finishing.';
