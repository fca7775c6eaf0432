import {
  createConversation,
  ensureActiveSession,
  getActiveSession,
  getApiKeyIdentity,
  recordAdminAction,
} from '@turnstream/db';
import type { FastifyInstance } from 'fastify';
import { requirePermission } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { deleteConversation } from '../conversation-deletion.ts';
import { ApiError } from '../errors.ts';
import { listConversationsPage } from '../list-conversations.ts';
import { loadConversation } from '../lookups.ts';
import { checkModelChoice, modelsJson } from '../models.ts';
import { resetConversation } from '../reset.ts';
import { createConversationBody, emptyBody, listConversationsQuery } from '../schemas.ts';
import { conversationJson, conversationWithSessionJson, sessionJson } from '../serialize.ts';
import { parseInput } from '../validation.ts';

interface IdParams {
  id: string;
}

export function conversationRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { db } = ctx;

  app.post('/v1/conversations', async (request, reply) => {
    const auth = requirePermission(request, 'write');
    const body = parseInput(createConversationBody, request.body ?? {}, 'body');
    const model = checkModelChoice(body, ctx.config);
    const result = await createConversation(db, {
      tenantId: auth.tenantId,
      model: model.id,
      title: body.title ?? null,
      externalId: body.externalId ?? null,
      system: body.system ?? null,
      thinkingBudgetTokens: body.thinking?.budgetTokens ?? null,
      defaultMode: body.mode ?? 'stream',
    });
    if (!result.ok) {
      throw new ApiError('external_id_conflict', {
        message: `A conversation with externalId "${body.externalId}" already exists: ${result.existing.id}.`,
        details: { conversationId: result.existing.id },
      });
    }
    const session = await getActiveSession(db, result.conversation.id);
    request.log.info(
      {
        event: 'conversation.create_completed',
        conversationId: result.conversation.id,
        tenantId: auth.tenantId,
      },
      'conversation created',
    );
    return reply.code(201).send(conversationWithSessionJson(result.conversation, session));
  });

  app.get('/v1/models', async (request) => {
    requirePermission(request, 'read');
    return modelsJson(ctx.config);
  });

  app.get('/v1/conversations', async (request) => {
    const auth = requirePermission(request, 'read');
    const query = parseInput(listConversationsQuery, request.query, 'query');
    const page = await listConversationsPage(db, auth.tenantId, query);
    return { conversations: page.conversations.map(conversationJson), nextCursor: page.nextCursor };
  });

  app.get<{ Params: IdParams }>('/v1/conversations/:id', async (request) => {
    const auth = requirePermission(request, 'read');
    const conversation = await loadConversation(db, auth.tenantId, request.params.id);
    const session =
      (await getActiveSession(db, conversation.id)) ??
      (await ensureActiveSession(db, auth.tenantId, conversation.id));
    return conversationWithSessionJson(conversation, session);
  });

  app.post<{ Params: IdParams }>('/v1/conversations/:id/reset', async (request) => {
    const auth = requirePermission(request, 'write');
    parseInput(emptyBody, request.body, 'body');
    const conversation = await loadConversation(db, auth.tenantId, request.params.id);
    const session = await resetConversation(ctx, {
      tenantId: auth.tenantId,
      conversationId: conversation.id,
      reason: 'user_reset',
    });
    request.log.info(
      { event: 'session.reset_completed', conversationId: conversation.id, sessionId: session.id },
      'session reset',
    );
    return { session: sessionJson(session) };
  });

  app.delete<{ Params: IdParams }>('/v1/conversations/:id', async (request, reply) => {
    const auth = requirePermission(request, 'write');
    parseInput(emptyBody, request.body, 'body');
    const conversation = await loadConversation(db, auth.tenantId, request.params.id);
    const log = request.log.child({ conversationId: conversation.id });
    const outcome = await deleteConversation(ctx, log, conversation);
    const key = await getApiKeyIdentity(db, auth.keyId);
    await recordAdminAction(db, {
      action: 'conversation.delete',
      tenantId: auth.tenantId,
      conversationId: conversation.id,
      actorKeyId: auth.keyId,
      actorKeyPrefix: key?.prefix ?? '',
      actorRole: auth.role,
      actorTenantId: auth.tenantId,
      detail: { via: 'api', ...outcome },
    });
    log.info({ event: 'conversation.delete_completed', ...outcome }, 'conversation deleted');
    return reply.code(204).send();
  });
}
