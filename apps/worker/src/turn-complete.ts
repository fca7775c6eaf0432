import { completeTurn, type Session } from '@turnstream/db';
import type { TranscriptPlan } from './transcript.ts';
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
 * Complete by compare-and-set on the session the turn started with. If that session moved underneath
 * (a reset ended it, a clear emptied it) while this turn still owns its reply, the reply completes but
 * the turn's transcript is dropped: it carries context from before the reset or clear, so it never
 * becomes part of any session (the next turn starts from the session as it is now). Resolves with
 * whether the outcome has a webhook target (read by the completion statement), null when fenced out.
 */
export async function completeWithRetry(
  t: LeasedTurn,
  session: Session,
  c: Completion,
): Promise<{ outcomeWanted: boolean } | null> {
  const { deps, data, message, lease } = t;
  const complete = (detached: boolean) =>
    completeTurn(deps.db, {
      tenantId: data.tenantId,
      conversationId: data.conversationId,
      sessionId: session.id,
      expectedVersion: session.version,
      fence: lease.fence,
      userMessageId: message.id,
      replyId: c.replyId,
      content: c.content,
      stopReason: c.stopReason,
      usage: c.usage,
      attemptId: c.attemptId,
      detached,
      transcript: {
        id: c.plan.id,
        mode: c.plan.mode,
        model: t.conversation.model,
        thinking: Boolean(t.conversation.thinkingBudgetTokens),
        messages: c.transcriptMessages,
        rebuilt: c.plan.rebuilt,
      },
    });
  const res = await complete(false);
  if (res.ok) return res;
  if (res.conflict === 'fence' || res.conflict === 'reply_fenced') return null;
  t.log.warn(
    { event: 'session.update_rejected', conflict: res.conflict },
    'session reset or cleared during the turn: reply kept, transcript dropped',
  );
  const detached = await complete(true);
  return detached.ok ? detached : null;
}
