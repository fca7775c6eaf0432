import { isTerminalEvent, type TurnEvent } from '@turnstream/contracts';
import { type Db, getReply, type Message, turnEndEvent } from '@turnstream/db';
import type { TurnStreams } from '@turnstream/streams';

const FINAL = new Set(['completed', 'failed', 'cancelled']);
/**
 * A turn that ended this recently is left to the log: its terminal event is published right after the
 * database commit, so it may simply not be there yet.
 */
const SETTLED_MS = 10_000;

/**
 * For `?messageId=&until=turn` on a turn that already ended: when the log no longer holds the turn's
 * terminal event (trimmed or expired), the terminal event rebuilt from the database, so the stream ends
 * instead of waiting forever. `null` when the turn is not final or the log still has its end.
 */
export async function finishedTurnEvent(
  db: Db,
  streams: TurnStreams,
  message: Message,
  after: string | undefined,
): Promise<TurnEvent | null> {
  if (message.role !== 'user' || !FINAL.has(message.status)) return null;
  const endedAt = new Date(message.completedAt ?? message.updatedAt).getTime();
  if (Date.now() - endedAt < SETTLED_MS) return null;
  const logged = await streams.read(message.conversationId, after ? { after } : {});
  if (logged.some((d) => d.event.messageId === message.id && isTerminalEvent(d.event))) return null;
  return turnEndEvent(message, await getReply(db, message.id));
}
