import { createHash } from 'node:crypto';
import { turnJobId } from '@turnstream/contracts';
import {
  abandonTurn,
  type Conversation,
  getMessage,
  insertUserMessage,
  type Message,
  recordAdminAction,
  type Session,
} from '@turnstream/db';
import type { FastifyBaseLogger } from 'fastify';
import type { RouteContext } from '../context.ts';
import { enqueueTurn } from '../enqueue.ts';
import { ApiError } from '../errors.ts';
import { resetConversation } from '../reset.ts';
import { type CancelOutcome, cancelTurn } from '../routes/cancel.ts';
import type { AdminIdentity } from './identity.ts';

/** What the user reads when an operator removed their message's job from the queue. */
export const REMOVED_BY_OPERATOR_TEXT =
  "An operator removed this message's job from the queue, so it was not answered. Send it again if you still need a reply.";
export const REMOVED_BY_OPERATOR = 'removed_by_operator';

/** Append to the audit trail. `detail` carries ids and outcomes only, never content. */
export async function audit(
  ctx: RouteContext,
  actor: AdminIdentity,
  entry: {
    action: string;
    tenantId?: string | null;
    conversationId?: string | null;
    messageId?: string | null;
    detail?: Record<string, unknown>;
  },
): Promise<void> {
  await recordAdminAction(ctx.db, {
    action: entry.action,
    tenantId: entry.tenantId ?? null,
    conversationId: entry.conversationId ?? null,
    messageId: entry.messageId ?? null,
    actorKeyId: actor.keyId,
    actorKeyPrefix: actor.prefix,
    actorRole: actor.role,
    actorTenantId: actor.tenantId,
    detail: entry.detail ?? {},
  });
}

/** The id of the message that retries `messageId`: derived, so retrying twice makes one message. */
export function retryMessageId(messageId: string): string {
  const h = createHash('sha256').update(`turnstream:retry:${messageId}`).digest('hex');
  // RFC 4122 layout (version 5, variant 10) so it passes every UUID check.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Retry a failed turn: its content is posted again as a new user message at the end of the
 * conversation (the failed message and its error row stay in the history, as they happened), and that
 * message's turn is enqueued. Idempotent: the retry of a message always has the same id.
 */
export async function retryFailedTurn(
  ctx: RouteContext,
  log: FastifyBaseLogger,
  message: Message,
): Promise<{ messageId: string; jobId: string; created: boolean }> {
  if (message.role !== 'user' || message.status !== 'failed') {
    throw new ApiError('message_not_retryable', {
      message: `Only a failed turn can be retried; this one is "${message.status}".`,
      details: { status: message.status },
    });
  }
  const inserted = await insertUserMessage(ctx.db, {
    id: retryMessageId(message.id),
    tenantId: message.tenantId,
    conversationId: message.conversationId,
    content: message.content,
    mode: message.mode,
  });
  if (!inserted.ok) throw new ApiError('conversation_not_found');
  const retry = inserted.message;
  if (inserted.created) {
    await ctx.streams
      .publish(retry.conversationId, null, [{ type: 'turn.queued', messageId: retry.id }])
      .catch(() => undefined);
  }
  const jobId = turnJobId(retry.id);
  if (retry.status === 'pending' && !(await ctx.queue.getJob(jobId))) await enqueueTurn(ctx.queue, retry);
  log.info(
    {
      event: 'admin.retry_completed',
      messageId: message.id,
      retryMessageId: retry.id,
      created: inserted.created,
    },
    'failed turn retried as a new message',
  );
  return { messageId: retry.id, jobId, created: inserted.created };
}

/** Cancel a queued or running turn, exactly as the API's cancel does. */
export async function cancelAsOperator(
  ctx: RouteContext,
  log: FastifyBaseLogger,
  message: Message,
): Promise<CancelOutcome> {
  if (message.role !== 'user' || message.status !== 'pending') {
    throw new ApiError('message_not_cancellable', {
      message: `The turn of this message has already ended (status "${message.status}").`,
      details: { status: message.status },
    });
  }
  return cancelTurn(ctx, log, message);
}

/** End the active session (its transcript tombstoned) and start a fresh one. */
export async function resetAsOperator(ctx: RouteContext, conversation: Conversation): Promise<Session> {
  return resetConversation(ctx, {
    tenantId: conversation.tenantId,
    conversationId: conversation.id,
    reason: 'operator_reset',
  });
}

/**
 * A pending message whose job an operator removed fails readably (`removed_by_operator`) instead of
 * being re-enqueued by the reconciler as if the job had been lost. Returns whether it acted.
 */
export async function failRemovedTurn(
  ctx: RouteContext,
  ref: { tenantId: string; conversationId: string; messageId: string },
): Promise<boolean> {
  const message = await getMessage(ctx.db, ref.tenantId, ref.messageId);
  if (message?.status !== 'pending') return false;
  if (await ctx.queue.getJob(turnJobId(ref.messageId))) return false;
  const reply = await abandonTurn(ctx.db, {
    tenantId: ref.tenantId,
    conversationId: ref.conversationId,
    messageId: ref.messageId,
    errorCode: REMOVED_BY_OPERATOR,
    content: REMOVED_BY_OPERATOR_TEXT,
  });
  if (!reply) return false;
  await ctx.streams
    .publish(ref.conversationId, null, [
      {
        type: 'turn.failed',
        messageId: ref.messageId,
        code: REMOVED_BY_OPERATOR,
        error: REMOVED_BY_OPERATOR_TEXT,
      },
    ])
    .catch(() => undefined);
  return true;
}
