import { type Db, ResetConflictError, resetSession, type Session } from '@turnstream/db';
import { ApiError } from './errors.ts';

/**
 * End a conversation's active session and start a fresh one (user and operator resets). Concurrent
 * resets are serialised by the database; one that cannot be is refused with `reset_conflict` (409),
 * having changed nothing.
 */
export async function resetConversation(
  db: Db,
  input: { tenantId: string; conversationId: string; reason: 'user_reset' | 'operator_reset' },
): Promise<Session> {
  try {
    return await resetSession(db, input);
  } catch (err) {
    if (err instanceof ResetConflictError) throw new ApiError('reset_conflict');
    throw err;
  }
}
