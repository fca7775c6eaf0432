/**
 * Cancellation crosses processes through Redis: the API sets a flag key (so a worker that starts the
 * turn later still sees it) and publishes on the cancel channel (so a worker running it aborts now).
 */
export function cancelChannel(prefix: string): string {
  return `${prefix}:cancel`;
}

/** The flag key of a message's cancel: set (with a TTL) before publishing on the cancel channel. */
export function cancelFlagKey(prefix: string, conversationId: string, messageId: string): string {
  return `${prefix}:{conv:${conversationId}}:cancel:${messageId}`;
}

/** How long a cancel flag is kept (seconds). */
export const CANCEL_FLAG_TTL_SECONDS = 24 * 3600;

/** What is published on the cancel channel, as JSON. */
export interface CancelRequest {
  /** The conversation of the message. */
  conversationId: string;
  /** The user message whose turn is cancelled. */
  messageId: string;
}
