import { type Session, setAssistantSession } from '@turnstream/db';
import { FencedOutError, SessionEndedError, TransientTurnError } from './errors.ts';
import { emptyTranscript, loadTranscript, rebuildTranscript, type TranscriptPlan } from './transcript.ts';
import type { TurnRun } from './turn-context.ts';

/** What the turn sends Claude before the new message, and the session it was planned against. */
export interface TranscriptState {
  session: Session;
  plan: TranscriptPlan;
  /** The session was cleared and the transcript rebuilt in this attempt (at most once). */
  recovered: boolean;
}

/**
 * The transcript plan of this attempt, from the session as it is now: its live transcript; or, when it
 * points at a transcript that cannot be loaded, a recovery without a Claude call; or, with no transcript,
 * a rebuild from the visible history (an empty one for the first message).
 */
export async function planTranscript(run: TurnRun): Promise<TranscriptState> {
  const loaded = await loadTranscript(run.deps.db, run.session);
  if (loaded.kind === 'live') return { session: run.session, plan: loaded.plan, recovered: false };
  if (loaded.kind === 'unavailable') {
    return recoverSession(
      run,
      { session: run.session, plan: emptyTranscript(), recovered: false },
      loaded.reason,
    );
  }
  const plan = run.message.seq > 1 ? await rebuild(run) : emptyTranscript();
  return { session: run.session, plan, recovered: false };
}

/**
 * Recover from an invalid session: clear it (id NULL and the transcript tombstoned, one transaction),
 * tell subscribers (`session.cleared`), and rebuild the transcript from the visible history.
 */
export async function recoverSession(
  run: TurnRun,
  state: TranscriptState,
  reason: string,
): Promise<TranscriptState> {
  const session = await clearSession(run, state.session, reason);
  const plan = await rebuild(run);
  run.log.info(
    { event: 'session.rebuild_completed', messages: plan.messages.length },
    'transcript rebuilt from history',
  );
  return { session, plan, recovered: true };
}

/** Clear the session (NULL + tombstone, one transaction, fenced) and publish `session.cleared`. */
export async function clearSession(run: TurnRun, session: Session, reason: string): Promise<Session> {
  const res = await setAssistantSession(run.deps.db, {
    sessionId: session.id,
    expectedVersion: session.version,
    fence: run.lease.fence,
    assistantSessionId: null,
    reason,
  });
  if (!res.ok) {
    if (res.conflict === 'fence') throw new FencedOutError('session claimed by a newer fence');
    if (res.conflict === 'not_active')
      throw new SessionEndedError('session ended by a reset during the turn');
    throw new TransientTurnError(
      `session changed underneath the turn (${res.conflict})`,
      500,
      'session_conflict',
    );
  }
  run.log.warn(
    { event: 'session.clear_completed', reason, version: res.session.version },
    'assistant session cleared',
  );
  await run.publisher.publish([{ type: 'session.cleared', messageId: run.message.id, reason }]);
  return res.session;
}

function rebuild(run: TurnRun): Promise<TranscriptPlan> {
  return rebuildTranscript(run.deps.db, {
    conversationId: run.conversation.id,
    beforeSeq: run.message.seq,
    // Never from before the session's reset boundary.
    afterSeq: run.session.startSeq,
    budgetTokens: run.deps.config.rebuildTokenBudget,
    system: run.conversation.system,
    userText: run.message.content,
  });
}
