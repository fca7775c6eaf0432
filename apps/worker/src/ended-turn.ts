import { getReply, type Message, turnEndEvent } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnDeps, TurnResult } from './turn-context.ts';

/**
 * A job whose message already ended: return the stored outcome, and publish the turn's terminal event
 * again, rebuilt from the database. The job may be the takeover of a worker that died (or froze) after
 * the ending committed and before its terminal event reached the log; without this, subscribers would
 * never see the turn end. The log keeps one end per message, so when the end is there this appends
 * nothing, and a late publish of the first worker appends nothing either.
 */
export async function endedTurn(deps: TurnDeps, message: Message, log: Logger): Promise<TurnResult> {
  const reply = await getReply(deps.db, message.id);
  const end = turnEndEvent(message, reply);
  if (end) {
    const res = await deps.streams.publish(message.conversationId, null, [end]);
    log.info(
      { event: 'turn.redelivery_completed', status: message.status, endIds: res.ok ? res.ids : [] },
      'turn already finished',
    );
  }
  return { outcome: 'already_finished', status: message.status, replyId: reply?.id ?? null };
}
