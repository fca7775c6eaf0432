import type { TurnJob } from '@turnstream/contracts';
import {
  type Conversation,
  createConversation,
  type Db,
  externalIdDeletedSince,
  getConversation,
  getConversationByExternalId,
  getMessage,
  getTenant,
  insertUserMessage,
  isConversationDeleted,
  listWebhookEndpoints,
  type Message,
} from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import { endpointOnOrigin, urlProblem } from '@turnstream/webhooks';
import { UnrecoverableError } from 'bullmq';
import { storedMessageId } from './job-message-id.ts';

/** What admitting a job's message needs. */
export interface AdmitDeps {
  db: Db;
  streams: TurnStreams;
  logger: Logger;
  /** Model of a conversation created for a new `externalConversationId`. */
  defaultModel: string;
}

/** A job's message, stored. */
export interface AdmittedMessage {
  conversation: Conversation;
  message: Message;
  /** false when the message was stored before (the same message again). */
  created: boolean;
}

/**
 * Store the user message a job carries (idempotent by its id) and, when it is new, publish
 * `turn.queued`. The conversation is the tenant's own (`conversation_not_found` otherwise,
 * `conversation_deleted` for one deleted) or, named by `externalConversationId`, created on first use
 * (unless that conversation was deleted after `enqueuedAt`, the job's creation time in ms: a message
 * sent before a deletion never brings the conversation back). Refusals are unrecoverable, name why and
 * store nothing.
 */
export async function admitMessage(
  deps: AdmitDeps,
  data: TurnJob & { content: string },
  enqueuedAt: number,
): Promise<AdmittedMessage> {
  const callbackUrl = await checkedCallbackUrl(deps.db, data);
  const conversation = await resolveConversation(deps, data, enqueuedAt);
  const res = await insertUserMessage(deps.db, {
    id: await storedMessageId(deps.db, data.tenantId, data.messageId),
    tenantId: data.tenantId,
    conversationId: conversation.id,
    content: data.content,
    mode: data.mode ?? conversation.defaultMode,
    ...(callbackUrl !== undefined ? { callbackUrl } : {}),
    ...(data.v === 2 && data.metadata !== undefined ? { metadata: data.metadata } : {}),
  });
  if (!res.ok) {
    // The conversation was deleted after it was looked up.
    if (res.reason === 'conversation_not_found')
      await refuseIfDeleted(deps.db, data.tenantId, conversation.id);
    throw new UnrecoverableError(`${res.reason}: message ${data.messageId} cannot be stored`);
  }
  if (res.created) {
    await deps.streams.publish(conversation.id, null, [{ type: 'turn.queued', messageId: res.message.id }]);
  }
  return { conversation, message: res.message, created: res.created };
}

/**
 * The job's `callbackUrl`, checked as the API checks a posted one: an http(s) URL on the origin of one
 * of the tenant's webhook endpoints (the dispatcher checks the target again when it sends).
 */
export async function checkedCallbackUrl(db: Db, data: TurnJob): Promise<string | undefined> {
  const url = data.v === 2 ? data.callbackUrl : undefined;
  if (url === undefined) return undefined;
  const problem = urlProblem(url);
  if (problem) throw new UnrecoverableError(`invalid_job: callbackUrl: ${problem}`);
  if (!endpointOnOrigin(await listWebhookEndpoints(db, data.tenantId), url)) {
    throw new UnrecoverableError(
      "callback_url_not_registered: callbackUrl is not on the origin of one of the tenant's webhook endpoints",
    );
  }
  return url;
}

/** Refuse (`conversation_deleted`) when this conversation of the tenant was deleted. */
async function refuseIfDeleted(db: Db, tenantId: string, conversationId: string): Promise<void> {
  if (await isConversationDeleted(db, tenantId, conversationId)) {
    throw new UnrecoverableError('conversation_deleted: conversationId names a deleted conversation');
  }
}

/**
 * The job's conversation, never another tenant's. A conversation named by `externalConversationId` is
 * created on first use, but not again when it was deleted after the job was enqueued (`enqueuedAt`).
 */
export async function resolveConversation(
  deps: AdmitDeps,
  data: TurnJob,
  enqueuedAt: number,
): Promise<Conversation> {
  if (data.conversationId !== undefined) {
    const found = await getConversation(deps.db, data.tenantId, data.conversationId);
    if (found) return found;
    await refuseIfDeleted(deps.db, data.tenantId, data.conversationId);
    throw new UnrecoverableError(
      'conversation_not_found: conversationId names no conversation of this tenant',
    );
  }
  const externalId = data.v === 2 ? data.externalConversationId : undefined;
  if (externalId === undefined) throw new UnrecoverableError('invalid_job: conversationId: required');
  const existing = await getConversationByExternalId(deps.db, data.tenantId, externalId);
  if (existing) return existing;
  // Looked up after the conversation: a deletion removes the row and writes its tombstone at once.
  if (await externalIdDeletedSince(deps.db, data.tenantId, externalId, new Date(enqueuedAt))) {
    throw new UnrecoverableError(
      'conversation_deleted: the conversation of externalConversationId was deleted after this message was enqueued',
    );
  }
  // Refuse before creating anything: a new conversation for a message that cannot be stored.
  if (!(await getTenant(deps.db, data.tenantId))) {
    throw new UnrecoverableError('tenant_not_found: tenantId names no tenant');
  }
  // The id is the tenant's own (scoped): a message of it elsewhere is in another of its conversations.
  const storedId = await storedMessageId(deps.db, data.tenantId, data.messageId);
  if (await getMessage(deps.db, data.tenantId, storedId)) {
    throw new UnrecoverableError(`id_conflict: message ${data.messageId} cannot be stored`);
  }
  const created = await createConversation(deps.db, {
    tenantId: data.tenantId,
    model: deps.defaultModel,
    externalId,
  });
  if (created.ok) {
    deps.logger.info(
      { event: 'conversation.create_completed', conversationId: created.conversation.id, via: 'intake' },
      'conversation created for an external id',
    );
    return created.conversation;
  }
  return created.existing;
}
