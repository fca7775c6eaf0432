import type { ClaudeErrorClass } from '@turnstream/claude';
import { readableFatal, readableSessionError, readableTransientExhausted } from './readable-errors.ts';
import type { AbortReason } from './turn-abort.ts';

/** What the runner does after a Claude call did not complete. */
export type TurnAction =
  /** This worker no longer owns the turn: write nothing more, the newer owner finishes it. */
  | { kind: 'fenced_out'; reason: AbortReason }
  /** Shutdown: keep the partial as interrupted, hand the job back for another worker (no attempt used). */
  | { kind: 'hand_back' }
  | { kind: 'cancel' }
  /** The session is invalid: clear it, rebuild the transcript from history, call again (same attempt). */
  | { kind: 'recover'; reason: string }
  /** Wait for Claude's rate limit (no attempt used). */
  | { kind: 'rate_limit'; retryAfterMs: number }
  /** A transient error with attempts left: retry after `backoffMs` (one attempt used). */
  | { kind: 'retry'; code: string; backoffMs: number }
  /**
   * The turn ends failed: `readable` is what the user reads, `detail` goes to the attempt row;
   * `clearSession` (a reason): clear the invalid session first, so the next message starts afresh.
   */
  | { kind: 'fail'; code: string; readable: string; detail: string; clearSession?: string };

export interface PolicyInput {
  error: ClaudeErrorClass;
  /** Why the turn was aborted from outside, if it was. */
  abort: AbortReason | null;
  attempt: {
    /** This attempt, from 1. Only Claude-side errors consume attempts (never stalls or hand-backs). */
    number: number;
    /** Attempts the job allows. */
    allowed: number;
    /** A session recovery already happened in this attempt. */
    recovered: boolean;
  };
  config: { sessionRecovery: boolean; backoffScale: number };
  /** A number in [0, 1): the random half of the backoff (tests pass a fixed one). */
  jitter: number;
}

/** The retry and failure policy of a turn, as data: `(class, abort reason, attempt, config) -> action`. */
export function decideTurnAction(input: PolicyInput): TurnAction {
  const { error, abort, attempt, config } = input;
  switch (abort) {
    case 'lease_lost':
    case 'fenced_out':
    case 'lock_lost':
      return { kind: 'fenced_out', reason: abort };
    case 'shutdown':
      return { kind: 'hand_back' };
    case 'cancelled':
      return { kind: 'cancel' };
    case null:
      break;
  }
  switch (error.kind) {
    case 'session_invalid':
      if (config.sessionRecovery && !attempt.recovered) return { kind: 'recover', reason: error.reason };
      return {
        kind: 'fail',
        code: 'session_invalid',
        readable: readableSessionError(config.sessionRecovery),
        detail: error.reason,
        clearSession: error.reason,
      };
    case 'rate_limited':
      return { kind: 'rate_limit', retryAfterMs: error.retryAfterMs };
    case 'transient':
      if (attempt.number >= attempt.allowed) {
        return {
          kind: 'fail',
          code: 'transient_exhausted',
          readable: readableTransientExhausted(),
          detail: error.reason,
        };
      }
      return {
        kind: 'retry',
        code: error.reason,
        backoffMs: jittered(error.backoffMs, input.jitter, config.backoffScale),
      };
    case 'fatal':
      return { kind: 'fail', code: error.code, readable: readableFatal(error.code), detail: error.message };
    case 'cancelled':
      // The call was aborted with no reason recorded: only a cancel aborts that way.
      return { kind: 'cancel' };
    default: {
      const never: never = error;
      throw new Error(`unhandled class ${JSON.stringify(never)}`);
    }
  }
}

/** Half fixed, half random, scaled: a fleet retrying together does not retry in lockstep. */
export function jittered(ms: number, jitter: number, scale: number): number {
  return Math.round((ms / 2 + jitter * (ms / 2)) * scale);
}
