import { cancelTurn, type Message } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnDeps, TurnResult } from './turn-context.ts';

export interface UnstartedCancel {
  tenantId: string;
  message: Message;
  /** The lease's fence when the caller holds the conversation lease, else null. */
  fence: number | null;
  log: Logger;
  /** Why it never started, logged with `turn.cancel_completed` (absent: it was cancelled). */
  reason?: 'session_reset';
}

/**
 * End a turn that never reached Claude as a cancel: the same ending as every cancel (user row and open
 * reply, an earlier attempt's partial kept, in one transaction), then `turn.cancelled`.
 */
export async function cancelUnstartedTurn(deps: TurnDeps, turn: UnstartedCancel): Promise<TurnResult> {
  const { message } = turn;
  const res = await cancelTurn(deps.db, {
    tenantId: turn.tenantId,
    conversationId: message.conversationId,
    messageId: message.id,
  });
  const replyId = res.ok ? (res.reply?.id ?? null) : null;
  if (res.ok) {
    await deps.streams.publish(message.conversationId, turn.fence, [
      { type: 'turn.cancelled', messageId: message.id, replyId },
    ]);
    const fields = turn.reason ? { reason: turn.reason } : {};
    turn.log.info(
      { event: 'turn.cancel_completed', stage: 'before_start', ...fields },
      'turn cancelled before it reached Claude',
    );
  }
  return { outcome: 'cancelled', status: res.user?.status ?? 'cancelled', replyId };
}
