import { turnJobId } from '@turnstream/contracts';
import {
  type Db,
  getReply,
  insertUserMessage,
  isUuid,
  listAttempts,
  listMessages,
  listWebhookEndpoints,
  type Message,
} from '@turnstream/db';
import { endpointOnOrigin } from '@turnstream/webhooks';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { can, requirePermission } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { enqueueTurn } from '../enqueue.ts';
import { ApiError } from '../errors.ts';
import { loadConversation, loadMessage } from '../lookups.ts';
import { idempotencyKeyHeader, listMessagesQuery, postMessageBody } from '../schemas.ts';
import { attemptJson, messageJson } from '../serialize.ts';
import { inRequestSpan } from '../tracing.ts';
import { parseInput, validationError } from '../validation.ts';

interface IdParams {
  id: string;
}
interface MessageParams extends IdParams {
  messageId: string;
}

/** Where a client follows one message's turn (ends after its terminal event). */
export function eventsUrl(conversationId: string, messageId: string): string {
  return `/v1/conversations/${conversationId}/events?messageId=${messageId}&until=turn`;
}

export function messageRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { db } = ctx;

  /**
   * Store the user message (idempotent by id), tell listeners it is queued, then enqueue its turn (job
   * id derived from the message id: one job per message). Nothing about the assistant session travels
   * in the job: the worker reads the session when the turn starts.
   */
  const rateLimit = messagesPerMinute(ctx);
  app.post<{ Params: IdParams }>(
    '/v1/conversations/:id/messages',
    { config: { rateLimit } },
    async (request, reply) => {
      const auth = requirePermission(request, 'write');
      const body = parseInput(postMessageBody, request.body, 'body');
      const idempotencyKey = idempotencyKeyOf(request.headers['idempotency-key'], body.idempotencyKey);
      if (!isUuid(request.params.id)) throw new ApiError('conversation_not_found');
      // A repeat (idempotency key) and a callbackUrl are checked against the conversation, read first;
      // otherwise the insert alone finds the tenant's conversation (and its default mode), or none: 404.
      const conversation =
        idempotencyKey !== undefined || body.callbackUrl !== undefined
          ? await loadConversation(db, auth.tenantId, request.params.id)
          : null;
      if (body.callbackUrl !== undefined) await checkCallbackUrl(db, auth.tenantId, body.callbackUrl);
      // Message ids are assigned here (never by the client): no id can be probed or squatted across
      // tenants. Repeats are recognised by the tenant-scoped idempotency key.
      const inserted = await insertUserMessage(db, {
        ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
        tenantId: auth.tenantId,
        conversationId: conversation?.id ?? request.params.id.toLowerCase(),
        content: body.content,
        mode: body.mode ?? conversation?.defaultMode ?? null,
        callbackUrl: body.callbackUrl ?? null,
      });
      if (!inserted.ok) {
        if (inserted.reason === 'idempotency_conflict') {
          throw new ApiError('idempotency_key_conflict', {
            message:
              'This idempotency key was already used for another message (another conversation or other content).',
            details: { messageId: inserted.existing.id },
          });
        }
        throw new ApiError('conversation_not_found');
      }
      const message = inserted.message;
      const jobId = turnJobId(message.id);
      // Fields rather than a child logger: one less logger (and its bindings) per post.
      const log = request.log;
      const ids = { conversationId: message.conversationId, messageId: message.id, jobId };

      // `turn.queued` goes out before the enqueue: once the job exists a worker may publish
      // `turn.started` at once, and the log must not show it before `turn.queued`. A message whose
      // enqueue then fails is still pending and will be queued (reconciler, or a repeated post).
      if (inserted.created) await publishQueued(ctx, log, message, ids);
      try {
        // A repeated post of a message whose job is gone (an earlier enqueue failed) enqueues it again;
        // a repeated post of a queued, running or finished message changes nothing.
        const mustEnqueue =
          inserted.created || (message.status === 'pending' && (await ctx.queue.getJob(jobId)) === undefined);
        if (mustEnqueue) await inRequestSpan(request, () => enqueueTurn(ctx.queue, message));
        if (inserted.created) ctx.metrics.messageAccepted();
        log.info(
          {
            event: 'message.accept_completed',
            ...ids,
            mode: message.mode,
            created: inserted.created,
            enqueued: mustEnqueue,
          },
          'message accepted',
        );
      } catch (err) {
        ctx.metrics.enqueueFailure();
        log.error(
          { event: 'message.enqueue_failed', ...ids, err: errorText(err) },
          'could not enqueue the turn',
        );
        throw new ApiError('enqueue_failed', { details: { messageId: message.id }, cause: err });
      }
      return reply
        .code(202)
        .send({ messageId: message.id, jobId, eventsUrl: eventsUrl(message.conversationId, message.id) });
    },
  );

  app.get<{ Params: IdParams }>('/v1/conversations/:id/messages', async (request) => {
    const auth = requirePermission(request, 'read');
    const query = parseInput(listMessagesQuery, request.query, 'query');
    const conversation = await loadConversation(db, auth.tenantId, request.params.id);
    const messages = await listMessages(db, auth.tenantId, conversation.id, {
      limit: query.limit,
      ...(query.afterSeq !== undefined ? { afterSeq: query.afterSeq } : {}),
    });
    return { messages: messages.map(messageJson) };
  });

  app.get<{ Params: MessageParams }>('/v1/conversations/:id/messages/:messageId', async (request) => {
    const auth = requirePermission(request, 'read');
    const conversation = await loadConversation(db, auth.tenantId, request.params.id);
    const message = await loadMessage(db, auth.tenantId, conversation.id, request.params.messageId);
    const reply = message.role === 'user' ? await getReply(db, message.id) : null;
    const attempts =
      message.role === 'user' && can(auth, 'operate')
        ? (await listAttempts(db, auth.tenantId, message.id)).map(attemptJson)
        : undefined;
    return {
      message: messageJson(message),
      reply: reply ? messageJson(reply) : null,
      ...(attempts ? { attempts } : {}),
    };
  });
}

/**
 * Messages per minute per tenant (every key of the tenant, every replica), checked after
 * authentication and before anything is read or written: beyond it, `429 rate_limited` + Retry-After.
 */
function messagesPerMinute(ctx: RouteContext) {
  const tenantOf = (request: FastifyRequest) => request.auth?.tenantId ?? 'anonymous';
  return {
    hook: 'preHandler' as const,
    timeWindow: 60_000,
    keyGenerator: tenantOf,
    max: (request: FastifyRequest) => ctx.tenantLimits.messagesPerMinute(tenantOf(request)),
    addHeadersOnExceeding: {
      'x-ratelimit-limit': true,
      'x-ratelimit-remaining': true,
      'x-ratelimit-reset': true,
    },
    errorResponseBuilder: (_request: FastifyRequest, context: { max: number; ttl: number }) => {
      const retryAfterSeconds = Math.max(1, Math.ceil(context.ttl / 1000));
      return new ApiError('rate_limited', {
        message: `This tenant may post ${context.max} messages per minute; retry in ${retryAfterSeconds} s.`,
        details: { limit: context.max, windowSeconds: 60, retryAfterSeconds },
      });
    },
  };
}

/** A `callbackUrl` must be on the origin of one of the tenant's endpoints (whose secret signs it). */
async function checkCallbackUrl(db: Db, tenantId: string, callbackUrl: string): Promise<void> {
  if (endpointOnOrigin(await listWebhookEndpoints(db, tenantId), callbackUrl)) return;
  throw new ApiError('callback_url_not_registered', {
    message:
      "callbackUrl must be on the origin (scheme, host and port) of one of the tenant's webhook endpoints: register one with POST /v1/webhooks.",
    details: { field: 'callbackUrl' },
  });
}

/** The idempotency key from the header or the body; both given, they must be equal. */
function idempotencyKeyOf(header: string | string[] | undefined, fromBody: string | undefined) {
  const fromHeader = parseInput(idempotencyKeyHeader, header, 'headers', 'Idempotency-Key');
  if (fromHeader !== undefined && fromBody !== undefined && fromHeader !== fromBody) {
    throw validationError([
      { location: 'headers', field: 'Idempotency-Key', message: "must equal the body's idempotencyKey" },
    ]);
  }
  return fromHeader ?? fromBody;
}

/** `turn.queued` is informative: the message is stored and queued even when this publish fails. */
async function publishQueued(
  ctx: RouteContext,
  log: FastifyBaseLogger,
  message: Message,
  ids: Record<string, string>,
): Promise<void> {
  try {
    await ctx.streams.publish(message.conversationId, null, [{ type: 'turn.queued', messageId: message.id }]);
  } catch (err) {
    log.warn(
      { event: 'message.queued_publish_failed', ...ids, err: errorText(err) },
      'could not publish turn.queued',
    );
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
