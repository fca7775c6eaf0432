import { cancelTurn, type Message, type Session } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnDeps, TurnResult } from './turn-context.ts';

/**
 * A message stored before the session was created by a reset (its seq is not after the session's
 * `startSeq`). Its turn must not reach Claude any more: whatever it would send is pre-reset context.
 */
export function predatesSession(message: Message, session: Session): boolean {
  return message.seq <= session.startSeq;
}

/**
 * End the turn of a message that predates the reset, without calling Claude: a partial reply left by an
 * earlier attempt is kept as `cancelled`, the message becomes `cancelled`, and `turn.cancelled` is
 * published. Only the holder of the conversation lease (`fence`) calls this.
 */
export async function cancelPreResetTurn(
  deps: TurnDeps,
  turn: { tenantId: string; message: Message; fence: number; log: Logger },
): Promise<TurnResult> {
  const { message, fence } = turn;
  // The same ending as every cancel: user row and open reply (its partial kept) in one transaction.
  const res = await cancelTurn(deps.db, {
    tenantId: turn.tenantId,
    conversationId: message.conversationId,
    messageId: message.id,
  });
  const replyId = res.ok ? (res.reply?.id ?? null) : null;
  if (res.ok) {
    await deps.streams.publish(message.conversationId, fence, [
      { type: 'turn.cancelled', messageId: message.id, replyId },
    ]);
    turn.log.info(
      { event: 'turn.cancel_completed', stage: 'before_start', reason: 'session_reset' },
      'turn of a message from before the reset cancelled without calling Claude',
    );
  }
  return { outcome: 'cancelled', status: res.user?.status ?? 'cancelled', replyId };
}
