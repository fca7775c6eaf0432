import type { TurnEvent } from '@turnstream/contracts';
import { isFinalStatus, type MessageStatus } from './message-status.ts';

interface Row {
  id: string;
  status: string;
  content: string;
  stopReason?: string | null;
  errorCode?: string | null;
}

/**
 * The terminal event of a turn that ended, rebuilt from its rows (the user message and its reply, if
 * any): what was published when the ending committed. `null` while the turn is not over.
 */
export function turnEndEvent(user: Row, reply: Row | null): TurnEvent | null {
  const status = user.status as MessageStatus;
  if (!isFinalStatus(status)) return null;
  switch (status) {
    case 'completed':
      return {
        type: 'turn.completed',
        messageId: user.id,
        replyId: reply?.id ?? '',
        content: reply?.content ?? '',
        stopReason: reply?.stopReason ?? null,
      };
    case 'cancelled':
      return { type: 'turn.cancelled', messageId: user.id, replyId: reply?.id ?? null };
    case 'failed':
      return {
        type: 'turn.failed',
        messageId: user.id,
        code: reply?.errorCode ?? 'failed',
        error: reply?.content ?? 'The message failed.',
      };
  }
}
