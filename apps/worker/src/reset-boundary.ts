import {
  endReply,
  getReply,
  type Message,
  type Session,
  setUserMessageStatus,
  startReply,
} from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnDeps } from './turn-context.ts';
import type { TurnResult } from './turn-run.ts';

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
  const reply = await getReply(deps.db, message.id);
  if (reply && ['pending', 'streaming', 'interrupted'].includes(reply.status)) {
    const taken = await startReply(deps.db, {
      tenantId: turn.tenantId,
      conversationId: message.conversationId,
      userMessageId: message.id,
      fence,
      mode: message.mode,
    });
    if (taken.kind === 'started')
      await endReply(deps.db, { replyId: reply.id, fence, status: 'cancelled', content: reply.content });
  }
  await setUserMessageStatus(deps.db, message.id, 'cancelled');
  await deps.streams.publish(message.conversationId, fence, [
    { type: 'turn.cancelled', messageId: message.id, replyId: reply?.id ?? null },
  ]);
  deps.metrics.turnsCancelled++;
  turn.log.info(
    { event: 'turn.cancel_completed', stage: 'before_start', reason: 'session_reset' },
    'turn of a message from before the reset cancelled without calling Claude',
  );
  return { outcome: 'cancelled', status: 'cancelled', replyId: reply?.id ?? null };
}
