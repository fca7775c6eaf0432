import {
  findConversationAnyTenant,
  listConversationAdminActions,
  listConversationAttempts,
  listMessages,
  listSessions,
  listTranscriptSummaries,
} from '@turnstream/db';
import { ApiError } from '../errors.ts';
import type { AdminContext } from './context.ts';
import type { AdminIdentity } from './identity.ts';
import { jobState } from './trouble.ts';

/** Most messages (newest) whose BullMQ job state is looked up for one page. */
const JOB_LOOKUPS = 100;

/** A conversation the identity may see, or 404 `conversation_not_found` (also for another tenant's). */
export async function loadInspectable(ctx: AdminContext, who: AdminIdentity, id: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new ApiError('conversation_not_found');
  const found = await findConversationAnyTenant(ctx.db, id);
  if (!found || (who.scopeTenantId && found.conversation.tenantId !== who.scopeTenantId)) {
    throw new ApiError('conversation_not_found');
  }
  return found;
}

const ms = (from: Date | null, to: Date | null) => (from && to ? to.getTime() - from.getTime() : null);

/**
 * Everything an operator reads about one conversation: sessions in order, assistant sessions
 * (transcripts, tombstones with their cleared reason), messages with status and job state, every
 * attempt, and the audit trail. Never message content (its length only).
 */
export async function conversationView(ctx: AdminContext, who: AdminIdentity, id: string) {
  const { conversation, tenantName } = await loadInspectable(ctx, who, id);
  const tenantId = conversation.tenantId;
  const [sessions, transcripts, messages, attempts, audit] = await Promise.all([
    listSessions(ctx.db, tenantId, id),
    listTranscriptSummaries(ctx.db, tenantId, id),
    listMessages(ctx.db, tenantId, id, { limit: 500 }),
    listConversationAttempts(ctx.db, id),
    listConversationAdminActions(ctx.db, id),
  ]);
  const userIds = messages.filter((m) => m.role === 'user').map((m) => m.id);
  const lookedUp = new Set(userIds.slice(-JOB_LOOKUPS));
  const states = new Map<string, string>();
  await Promise.all([...lookedUp].map(async (mid) => states.set(mid, await jobState(ctx, mid))));
  return {
    conversation: {
      id: conversation.id,
      tenantId,
      tenantName,
      title: conversation.title,
      externalId: conversation.externalId,
      model: conversation.model,
      createdAt: conversation.createdAt,
    },
    sessions: sessions.map((s) => ({
      id: s.id,
      status: s.status,
      assistantSessionId: s.assistantSessionId,
      version: s.version,
      fence: s.fence,
      parentSessionId: s.parentSessionId,
      endedReason: s.endedReason,
      createdAt: s.createdAt,
      endedAt: s.endedAt,
    })),
    assistantSessions: transcripts,
    messages: messages.map((m) => ({
      id: m.id,
      seq: m.seq,
      role: m.role,
      status: m.status,
      replyTo: m.replyTo,
      errorCode: m.errorCode,
      stopReason: m.stopReason,
      usage: m.usage,
      contentChars: m.content.length,
      createdAt: m.createdAt,
      completedAt: m.completedAt,
      jobState: m.role === 'user' ? (states.get(m.id) ?? null) : null,
    })),
    attempts: attempts.map((a) => ({
      id: a.id,
      messageId: a.messageId,
      attempt: a.attempt,
      jobId: a.jobId,
      workerId: a.workerId,
      fence: a.fence,
      sessionId: a.sessionId,
      assistantSessionId: a.assistantSessionId,
      outcome: a.outcome,
      errorCode: a.errorCode,
      errorMessage: a.errorMessage,
      usage: a.usage,
      startedAt: a.startedAt,
      endedAt: a.endedAt,
      durationMs: ms(a.startedAt, a.endedAt),
    })),
    audit: audit.map((e) => ({
      id: e.id,
      action: e.action,
      messageId: e.messageId,
      actor: { keyPrefix: e.actorKeyPrefix, role: e.actorRole, tenantId: e.actorTenantId },
      detail: e.detail,
      at: e.createdAt,
    })),
  };
}

export type ConversationView = Awaited<ReturnType<typeof conversationView>>;
