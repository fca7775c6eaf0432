import type { TurnEvent } from '@turnstream/contracts';
import { getReply, type Message, MissingReplyError, turnEndEvent } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import { UnrecoverableError } from 'bullmq';
import type { TurnDeps, TurnResult } from './turn-context.ts';

/**
 * A job whose message already ended: return the stored outcome, and publish the turn's terminal event
 * again, rebuilt from the database. The job may be the takeover of a worker that died (or froze) after
 * the ending committed and before its terminal event reached the log; without this, subscribers would
 * never see the turn end. The log keeps one end per message, so when the end is there this appends
 * nothing, and a late publish of the first worker appends nothing either. A completed turn without its
 * reply row (a broken invariant) publishes nothing and fails the job for good: no retry can mend it.
 */
export async function endedTurn(deps: TurnDeps, message: Message, log: Logger): Promise<TurnResult> {
  const reply = await getReply(deps.db, message.id);
  const end = rebuiltEnd(message, reply, log);
  if (end) {
    const res = await deps.streams.publish(message.conversationId, null, [end]);
    log.info(
      { event: 'turn.redelivery_completed', status: message.status, endIds: res.ok ? res.ids : [] },
      'turn already finished',
    );
  }
  return { outcome: 'already_finished', status: message.status, replyId: reply?.id ?? null };
}

function rebuiltEnd(message: Message, reply: Message | null, log: Logger): TurnEvent | null {
  try {
    return turnEndEvent(message, reply);
  } catch (err) {
    if (!(err instanceof MissingReplyError)) throw err;
    log.error(
      { event: 'turn.end_event_failed', status: message.status, err: err.message },
      'completed turn has no reply row',
    );
    throw new UnrecoverableError(err.message);
  }
}
