import type { TranscriptMessage } from '@turnstream/claude';
import { estimateTokens } from '@turnstream/claude';
import { type Db, getTranscript, listExchanges, newAssistantSessionId, type Session } from '@turnstream/db';

/** What the turn sends before the new user message, and where the result is written. */
export interface TranscriptPlan {
  /** The assistant session id the completed turn will point the session at. */
  id: string;
  /** `append`: extend the live transcript `id`; `create`: a new transcript row. */
  mode: 'create' | 'append';
  messages: TranscriptMessage[];
  rebuilt: boolean;
}

export type LoadedTranscript =
  | { kind: 'live'; plan: TranscriptPlan }
  | { kind: 'none' }
  | { kind: 'unavailable'; reason: 'transcript_missing' | 'transcript_cleared' };

/** Load the transcript the session points at, read now (never from job data). */
export async function loadTranscript(db: Db, session: Session): Promise<LoadedTranscript> {
  if (!session.assistantSessionId) return { kind: 'none' };
  const row = await getTranscript(db, session.assistantSessionId);
  if (!row) return { kind: 'unavailable', reason: 'transcript_missing' };
  if (row.status === 'cleared') return { kind: 'unavailable', reason: 'transcript_cleared' };
  return {
    kind: 'live',
    plan: { id: row.id, mode: 'append', messages: row.messages as TranscriptMessage[], rebuilt: false },
  };
}

/**
 * A fresh transcript from the visible history (text only): the most recent finished exchanges
 * between `afterSeq` and `beforeSeq` that fit `budgetTokens` together with the system prompt and the new message.
 */
export async function rebuildTranscript(
  db: Db,
  input: {
    conversationId: string;
    beforeSeq: number;
    /** The session's reset boundary (`startSeq`): exchanges up to it are never included. */
    afterSeq: number;
    budgetTokens: number;
    system?: string | null;
    userText: string;
  },
): Promise<TranscriptPlan> {
  const exchanges = await listExchanges(db, input.conversationId, input.beforeSeq, input.afterSeq);
  let used = estimateTokens({
    system: input.system ?? undefined,
    messages: [{ role: 'user', content: input.userText }],
  });
  const kept: TranscriptMessage[][] = [];
  for (let i = exchanges.length - 1; i >= 0; i--) {
    const ex = exchanges[i]!;
    const pair: TranscriptMessage[] = [
      { role: 'user', content: [{ type: 'text', text: ex.user }] },
      { role: 'assistant', content: [{ type: 'text', text: ex.assistant }] },
    ];
    const cost = estimateTokens({ messages: pair });
    if (used + cost > input.budgetTokens) break;
    used += cost;
    kept.unshift(pair);
  }
  return { id: newAssistantSessionId(), mode: 'create', messages: kept.flat(), rebuilt: true };
}

/** A brand-new, empty transcript (first message of a session with no history). */
export function emptyTranscript(): TranscriptPlan {
  return { id: newAssistantSessionId(), mode: 'create', messages: [], rebuilt: false };
}

export function userTurn(text: string): TranscriptMessage {
  return { role: 'user', content: [{ type: 'text', text }] };
}
