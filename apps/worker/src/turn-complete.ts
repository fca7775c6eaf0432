import { completeTurn, getActiveSession, type Session } from '@turnstream/db';
import { emptyTranscript, type TranscriptPlan } from './transcript.ts';
import type { LeasedTurn } from './turn-context.ts';

export interface Completion {
  attemptId: string;
  plan: TranscriptPlan;
  transcriptMessages: unknown[];
  replyId: string;
  content: string;
  stopReason: string | null;
  usage: {
    inputTokens: number;
    outputTokens: number;
    cacheCreationInputTokens: number;
    cacheReadInputTokens: number;
  };
}

/**
 * Complete by compare-and-set. If the session moved underneath (a user reset, say) but this turn still
 * owns the fence, write the reply against the session as it is now, starting a new transcript.
 */
export async function completeWithRetry(t: LeasedTurn, session: Session, c: Completion): Promise<boolean> {
  const { deps, data, message, lease } = t;
  let current = session;
  let plan = c.plan;
  for (let i = 0; i < 2; i++) {
    const res = await completeTurn(deps.db, {
      tenantId: data.tenantId,
      conversationId: data.conversationId,
      sessionId: current.id,
      expectedVersion: current.version,
      fence: lease.fence,
      userMessageId: message.id,
      replyId: c.replyId,
      content: c.content,
      stopReason: c.stopReason,
      usage: c.usage,
      attemptId: c.attemptId,
      transcript: {
        id: plan.id,
        mode: plan.mode,
        model: t.conversation.model,
        thinking: Boolean(t.conversation.thinkingBudgetTokens),
        messages: c.transcriptMessages,
        rebuilt: plan.rebuilt,
      },
    });
    if (res.ok) return true;
    if (res.conflict === 'fence' || res.conflict === 'reply_fenced') return false;
    t.log.warn(
      { event: 'session.update_rejected', conflict: res.conflict },
      'session changed during the turn',
    );
    const fresh = await getActiveSession(deps.db, data.conversationId);
    if (!fresh) return false;
    current = fresh;
    plan = { ...emptyTranscript(), rebuilt: plan.rebuilt };
  }
  return false;
}
