import { isUuid, listAdminActions, listTenants } from '@turnstream/db';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import { loadMessage } from '../lookups.ts';
import type { AdminContext } from './context.ts';
import { conversationView, loadInspectable } from './conversation-view.ts';
import { html, page } from './html.ts';
import { type AdminIdentity, adminRefusal } from './identity.ts';
import { conversationPage, troublePage } from './inspector-pages.ts';
import { troubleReport } from './trouble.ts';
import { audit, cancelAsOperator, resetAsOperator, retryFailedTurn } from './turn-actions.ts';

interface ConvParams {
  id: string;
}
interface MessageParams extends ConvParams {
  messageId: string;
}

/** The conversation an operator may inspect and one of its user messages (else 404). */
async function inspectedUserMessage(ctx: AdminContext, who: AdminIdentity, params: MessageParams) {
  const { conversation } = await loadInspectable(ctx, who, params.id);
  const message = await loadMessage(ctx.db, conversation.tenantId, conversation.id, params.messageId, {
    userOnly: true,
  });
  return { conversation, message };
}

export function identityOf(request: FastifyRequest): AdminIdentity {
  if (!request.admin) throw new ApiError('unauthorized');
  return request.admin;
}

/** The tenant a request is limited to: its own for tenant keys, the `?tenant=` filter for operators. */
export function tenantFilter(who: AdminIdentity, query: unknown): string | undefined {
  if (who.scopeTenantId) return who.scopeTenantId;
  const t = (query as Record<string, unknown> | undefined)?.tenant;
  return isUuid(t) ? t : undefined;
}

const sendHtml = (reply: FastifyReply, body: string) => reply.type('text/html; charset=utf-8').send(body);

/** The conversation inspector: trouble list, one conversation, actions, audit trail (HTML and JSON). */
export function inspectorRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const visibleTenants = async (who: AdminIdentity) =>
    (await listTenants(ctx.db)).filter((t) => !who.scopeTenantId || t.id === who.scopeTenantId);

  app.get('/admin/api/trouble', async (request) => {
    const who = identityOf(request);
    return troubleReport(ctx, { tenantId: tenantFilter(who, request.query) });
  });
  app.get('/admin/trouble', async (request, reply) => {
    const who = identityOf(request);
    const report = await troubleReport(ctx, { tenantId: tenantFilter(who, request.query) });
    return sendHtml(
      reply,
      page('Conversations in trouble', who, troublePage(report, await visibleTenants(who))),
    );
  });

  app.get('/admin/conversations', async (request, reply) => {
    const id = String((request.query as Record<string, unknown>).id ?? '').trim();
    return reply
      .code(303)
      .header('location', `/admin/conversations/${encodeURIComponent(id)}`)
      .send();
  });
  app.get<{ Params: ConvParams }>('/admin/api/conversations/:id', async (request) =>
    conversationView(ctx, identityOf(request), request.params.id),
  );
  app.get<{ Params: ConvParams }>('/admin/conversations/:id', async (request, reply) => {
    const who = identityOf(request);
    const view = await conversationView(ctx, who, request.params.id);
    return sendHtml(
      reply,
      page(`Conversation ${view.conversation.id.slice(0, 8)}`, who, conversationPage(view, who)),
    );
  });

  /** Register an action at its JSON path and its form path (which redirects back to the page). */
  const actionRoute = <P extends ConvParams>(
    suffix: string,
    run: (
      request: FastifyRequest<{ Params: P }>,
      who: AdminIdentity,
    ) => Promise<{ status: number; body: unknown }>,
  ) => {
    const handler =
      (form: boolean) => async (request: FastifyRequest<{ Params: P }>, reply: FastifyReply) => {
        const who = identityOf(request);
        const refused = adminRefusal(who, ['act']);
        if (refused) throw refused;
        const result = await run(request, who);
        const back = `/admin/conversations/${encodeURIComponent((request.params as ConvParams).id)}`;
        if (form) return reply.code(303).header('location', back).send();
        return reply.code(result.status).send(result.body);
      };
    app.post<{ Params: P }>(`/admin/api/conversations/:id${suffix}`, handler(false));
    app.post<{ Params: P }>(`/admin/conversations/:id${suffix}`, handler(true));
  };

  actionRoute<ConvParams>('/reset', async (request, who) => {
    const { conversation } = await loadInspectable(ctx, who, request.params.id);
    const session = await resetAsOperator(ctx, conversation);
    await audit(ctx, who, {
      action: 'session.reset',
      tenantId: conversation.tenantId,
      conversationId: conversation.id,
      detail: { newSessionId: session.id, parentSessionId: session.parentSessionId },
    });
    request.log.info(
      { event: 'admin.reset_completed', conversationId: conversation.id, sessionId: session.id },
      'session reset by an operator',
    );
    return {
      status: 200,
      body: { session: { id: session.id, assistantSessionId: null, version: session.version } },
    };
  });

  actionRoute<MessageParams>('/messages/:messageId/retry', async (request, who) => {
    const { conversation, message } = await inspectedUserMessage(ctx, who, request.params);
    const retry = await retryFailedTurn(ctx, request.log, message);
    await audit(ctx, who, {
      action: 'turn.retry',
      tenantId: conversation.tenantId,
      conversationId: conversation.id,
      messageId: message.id,
      detail: { retryMessageId: retry.messageId, jobId: retry.jobId, created: retry.created },
    });
    return {
      status: 202,
      body: { messageId: retry.messageId, jobId: retry.jobId, retriedMessageId: message.id },
    };
  });

  actionRoute<MessageParams>('/messages/:messageId/cancel', async (request, who) => {
    const { conversation, message } = await inspectedUserMessage(ctx, who, request.params);
    const outcome = await cancelAsOperator(ctx, request.log, message);
    await audit(ctx, who, {
      action: 'turn.cancel',
      tenantId: conversation.tenantId,
      conversationId: conversation.id,
      messageId: message.id,
      detail: { status: outcome.status },
    });
    return {
      status: outcome.status === 'cancelled' ? 200 : 202,
      body: { messageId: message.id, status: outcome.status },
    };
  });

  app.get('/admin/api/audit', async (request) => {
    const who = identityOf(request);
    return {
      actions: await listAdminActions(ctx.db, { tenantId: tenantFilter(who, request.query), limit: 200 }),
    };
  });
  app.get('/admin/audit', async (request, reply) => {
    const who = identityOf(request);
    const actions = await listAdminActions(ctx.db, {
      tenantId: tenantFilter(who, request.query),
      limit: 200,
    });
    return sendHtml(
      reply,
      page(
        'Audit trail',
        who,
        html`<table id="audit"><tr><th>when</th><th>action</th><th>who</th><th>conversation</th><th>message</th><th>detail</th></tr>
${actions.map((e) => html`<tr><td>${e.createdAt}</td><td>${e.action}</td><td>${e.actorKeyPrefix}… (${e.actorRole})</td><td>${e.conversationId ? html`<a href="/admin/conversations/${e.conversationId}"><code>${e.conversationId}</code></a>` : ''}</td><td><code>${e.messageId}</code></td><td><code>${JSON.stringify(e.detail)}</code></td></tr>`)}</table>`,
      ),
    );
  });
}
