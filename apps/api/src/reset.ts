import { promoteTurnJob } from '@turnstream/contracts';
import {
  type Db,
  firstUnfinishedBefore,
  ResetConflictError,
  resetSession,
  type Session,
} from '@turnstream/db';
import type { Queue } from 'bullmq';
import { ApiError } from './errors.ts';

/**
 * End a conversation's active session and start a fresh one (user and operator resets). Concurrent
 * resets are serialised by the database; one that cannot be is refused with `reset_conflict` (409),
 * having changed nothing.
 *
 * Turns of messages stored before the reset never reach Claude again (the worker cancels them when they
 * next start); the first one waiting out a delay (a retry's backoff) is woken now, so messages posted
 * after the reset do not wait behind it.
 */
export async function resetConversation(
  ctx: { db: Db; queue: Queue },
  input: { tenantId: string; conversationId: string; reason: 'user_reset' | 'operator_reset' },
): Promise<Session> {
  let session: Session;
  try {
    session = await resetSession(ctx.db, input);
  } catch (err) {
    if (err instanceof ResetConflictError) throw new ApiError('reset_conflict');
    throw err;
  }
  const waiting = await firstUnfinishedBefore(ctx.db, input.conversationId, session.startSeq + 1);
  // Only latency is at stake: the job runs (and is cancelled) when its delay ends anyway.
  if (waiting) await promoteTurnJob(ctx.queue, waiting.id).catch(() => false);
  return session;
}
