import type { ClaudeChunk, StreamRequest } from '@turnstream/claude';
import { outputBudget } from '@turnstream/contracts';
import type { Session } from '@turnstream/db';
import { EarlyStream } from './early-stream.ts';
import { predatesSession } from './reset-boundary.ts';
import type { TranscriptState } from './session-recovery.ts';
import { emptyTranscript, loadTranscript, userTurn } from './transcript.ts';
import type { LeasedTurn } from './turn-context.ts';

/** The Claude request of a turn, from its transcript state. */
export function claudeRequest(
  t: Pick<LeasedTurn, 'deps' | 'conversation' | 'message'>,
  state: TranscriptState,
  signal: AbortSignal,
): StreamRequest {
  const { conversation, message, deps } = t;
  const model = deps.config.models.find((m) => m.id === conversation.model);
  const budget = outputBudget(model, deps.config.maxTokens, conversation.thinkingBudgetTokens);
  return {
    model: conversation.model,
    system: conversation.system ?? undefined,
    messages: [...state.plan.messages, userTurn(message.content)],
    maxTokens: budget.maxTokens,
    thinking: budget.thinkingBudget ? { budgetTokens: budget.thinkingBudget } : undefined,
    signal,
  };
}

/** A Claude request started before the turn was confirmed, with the transcript state it was sent with. */
export interface EarlyRequest {
  state: TranscriptState;
  stream: EarlyStream<ClaudeChunk>;
}

/**
 * Plan the transcript against `session` (the session as read before the lease) and start the Claude
 * request at once. Only plans read in one step qualify: the live transcript the session points at, or
 * none for the first message of the session. A transcript that cannot be loaded (a recovery, a fenced
 * write) or a rebuild from the history waits for the confirmed run. Never rejects: null when there is
 * nothing to start early (the run then plans as usual).
 */
export async function startEarly(
  t: Pick<LeasedTurn, 'deps' | 'conversation' | 'message'>,
  session: Session,
  signal: AbortSignal,
): Promise<EarlyRequest | null> {
  try {
    const state = await planReadOnly(t, session);
    if (!state || signal.aborted) return null;
    return {
      state,
      stream: new EarlyStream(t.deps.provider.stream(claudeRequest(t, state, signal)), { signal }),
    };
  } catch {
    // Read again, and any error met, by the confirmed run.
    return null;
  }
}

async function planReadOnly(
  t: Pick<LeasedTurn, 'deps' | 'conversation' | 'message'>,
  session: Session,
): Promise<TranscriptState | null> {
  // A message from before a reset never reaches Claude (the confirmed run cancels it).
  if (predatesSession(t.message, session)) return null;
  const loaded = await loadTranscript(t.deps.db, session);
  if (loaded.kind === 'live') return { session, plan: loaded.plan, recovered: false };
  // A rebuild from the history waits for the confirmed session (a reset may be moving its boundary).
  if (loaded.kind === 'unavailable' || t.message.seq > 1) return null;
  return { session, plan: emptyTranscript(), recovered: false };
}

/**
 * Whether an early request may stand for the confirmed session: the same session, unchanged since it
 * was read (its version moves with every change of what it points at). Otherwise it is discarded.
 */
export function earlyStillValid(early: EarlyRequest, confirmed: Session): boolean {
  const read = early.state.session;
  return (
    read.id === confirmed.id &&
    read.version === confirmed.version &&
    read.assistantSessionId === confirmed.assistantSessionId &&
    read.startSeq === confirmed.startSeq
  );
}
