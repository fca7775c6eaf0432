import type { TurnEvent } from '../events.ts';

/** How a turn ended, as `TurnsClient.waitForReply` reports it. */
export type TurnOutcome =
  | {
      /** The reply is complete. */
      status: 'completed';
      /** The user message. */
      messageId: string;
      /** The assistant message holding the reply. */
      replyId: string;
      /** The full reply text. */
      content: string;
      /** Claude's stop reason (`end_turn`, `max_tokens`, ...). */
      stopReason: string | null;
    }
  | {
      /** The turn failed for good; its reply is an error message the user can read. */
      status: 'failed';
      /** The user message. */
      messageId: string;
      /** Stable error code (`transient_exhausted`, `internal_error`, ...). */
      code: string;
      /** The readable error text stored as the reply. */
      error: string;
    }
  | {
      /** The turn was cancelled. */
      status: 'cancelled';
      /** The user message. */
      messageId: string;
      /** The (partial) reply kept as cancelled, or null when the turn had not started. */
      replyId: string | null;
    };

/** The outcome a terminal event reports, or null for any other event. */
export function outcomeOf(event: TurnEvent): TurnOutcome | null {
  switch (event.type) {
    case 'turn.completed':
      return {
        status: 'completed',
        messageId: event.messageId,
        replyId: event.replyId,
        content: event.content,
        stopReason: event.stopReason,
      };
    case 'turn.failed':
      return { status: 'failed', messageId: event.messageId, code: event.code, error: event.error };
    case 'turn.cancelled':
      return { status: 'cancelled', messageId: event.messageId, replyId: event.replyId };
    default:
      return null;
  }
}
