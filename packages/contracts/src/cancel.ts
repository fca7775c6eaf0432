/**
 * Cancellation crosses processes through Redis: the API sets a flag key (so a worker that starts the
 * turn later still sees it) and publishes on the cancel channel (so a worker running it aborts now).
 */
export function cancelChannel(prefix: string): string {
  return `${prefix}:cancel`;
}

export function cancelFlagKey(prefix: string, conversationId: string, messageId: string): string {
  return `${prefix}:{conv:${conversationId}}:cancel:${messageId}`;
}

/** How long a cancel flag is kept (seconds). */
export const CANCEL_FLAG_TTL_SECONDS = 24 * 3600;

export interface CancelRequest {
  conversationId: string;
  messageId: string;
}
