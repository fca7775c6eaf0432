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
 * A user message stored as completed has no reply row. The completion writes both in one statement, so
 * this is a broken invariant: there is no reply id to publish, and none is made up.
 */
export class MissingReplyError extends Error {
  override name = 'MissingReplyError';
  constructor(readonly messageId: string) {
    super(`reply_missing: the completed turn of message ${messageId} has no reply row`);
  }
}

/**
 * The terminal event of a turn that ended, rebuilt from its rows (the user message and its reply, if
 * any): what was published when the ending committed. `null` while the turn is not over. Throws
 * {@link MissingReplyError} for a completed turn without its reply.
 */
export function turnEndEvent(user: Row, reply: Row | null): TurnEvent | null {
  const status = user.status as MessageStatus;
  if (!isFinalStatus(status)) return null;
  switch (status) {
    case 'completed':
      if (!reply) throw new MissingReplyError(user.id);
      return {
        type: 'turn.completed',
        messageId: user.id,
        replyId: reply.id,
        content: reply.content,
        stopReason: reply.stopReason ?? null,
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
