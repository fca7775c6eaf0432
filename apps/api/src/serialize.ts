import type { Conversation, Message, Session, TranscriptClear, TurnAttempt } from '@turnstream/db';

/** Public shapes of the API's resources (the database rows carry more than clients need). */

export interface SessionJson {
  id: string;
  assistantSessionId: string | null;
  version: number;
}

export function sessionJson(s: Session): SessionJson {
  return { id: s.id, assistantSessionId: s.assistantSessionId, version: s.version };
}

/** A session in a conversation's history (`GET .../sessions`). */
export interface SessionRecordJson extends SessionJson {
  status: 'active' | 'ended';
  parentSessionId: string | null;
  endedReason: string | null;
  createdAt: string;
  endedAt: string | null;
}

export function sessionRecordJson(s: Session): SessionRecordJson {
  return {
    ...sessionJson(s),
    status: s.status,
    parentSessionId: s.parentSessionId,
    endedReason: s.endedReason,
    createdAt: s.createdAt.toISOString(),
    endedAt: s.endedAt ? s.endedAt.toISOString() : null,
  };
}

export function sessionClearJson(c: TranscriptClear) {
  return { assistantSessionId: c.assistantSessionId, reason: c.reason, clearedAt: c.clearedAt.toISOString() };
}

export interface ConversationJson {
  id: string;
  title: string | null;
  externalId: string | null;
  system: string | null;
  model: string;
  thinking: { budgetTokens: number } | null;
  mode: 'stream' | 'batch';
  createdAt: string;
  updatedAt: string;
}

export function conversationJson(c: Conversation): ConversationJson {
  return {
    id: c.id,
    title: c.title,
    externalId: c.externalId,
    system: c.system,
    model: c.model,
    thinking: c.thinkingBudgetTokens === null ? null : { budgetTokens: c.thinkingBudgetTokens },
    mode: c.defaultMode,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

export function conversationWithSessionJson(
  c: Conversation,
  s: Session | null,
): ConversationJson & { session: SessionJson | null } {
  return { ...conversationJson(c), session: s ? sessionJson(s) : null };
}

export interface MessageJson {
  id: string;
  seq: number;
  role: Message['role'];
  content: string;
  status: Message['status'];
  replyTo: string | null;
  mode: 'stream' | 'batch';
  errorCode: string | null;
  stopReason: string | null;
  usage: Message['usage'];
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  /** A user message's metadata from its producer (TurnsClient or a queue job); null otherwise. */
  metadata: Record<string, string> | null;
}

export function messageJson(m: Message): MessageJson {
  return {
    id: m.id,
    seq: m.seq,
    role: m.role,
    content: m.content,
    status: m.status,
    replyTo: m.replyTo,
    mode: m.mode,
    errorCode: m.errorCode,
    stopReason: m.stopReason,
    usage: m.usage,
    createdAt: m.createdAt.toISOString(),
    updatedAt: m.updatedAt.toISOString(),
    completedAt: m.completedAt ? m.completedAt.toISOString() : null,
    metadata: m.metadata ?? null,
  };
}

export function attemptJson(a: TurnAttempt) {
  return {
    id: a.id,
    attempt: a.attempt,
    jobId: a.jobId,
    workerId: a.workerId,
    fence: a.fence,
    sessionId: a.sessionId,
    assistantSessionId: a.assistantSessionId,
    startedAt: a.startedAt.toISOString(),
    endedAt: a.endedAt ? a.endedAt.toISOString() : null,
    outcome: a.outcome,
    errorCode: a.errorCode,
    errorMessage: a.errorMessage,
    usage: a.usage,
  };
}
