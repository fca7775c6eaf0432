import { isTerminalEvent } from '@turnstream/contracts';
import { SubscriberClosedError, SubscriberOverflowError, type Subscription } from '@turnstream/streams';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { requirePermission } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { finishedTurnEvent } from '../finished-turn.ts';
import { loadConversation, loadMessage } from '../lookups.ts';
import { emptyBody, eventIdSchema, eventsQuery } from '../schemas.ts';
import { commentFrame, controlFrame, eventFrame, SseConnection } from '../sse.ts';
import { issueStreamToken } from '../stream-tokens.ts';
import { parseInput } from '../validation.ts';
import { errorText } from './messages.ts';

interface IdParams {
  id: string;
}

/**
 * `GET /v1/conversations/:id/events`: the conversation's events as Server-Sent Events, each with its
 * durable log id. Resumes strictly after `Last-Event-ID` (or `?lastEventId=`); without one, replays
 * what the log still holds, then goes live. See apps/api/README.md for the protocol.
 */
export function eventRoutes(app: FastifyInstance, ctx: RouteContext): void {
  /**
   * `POST /v1/conversations/:id/stream-tokens`: a short-lived, read-only token for this conversation's
   * events, for clients that cannot send headers (`new EventSource(eventsUrl)`).
   */
  app.post<{ Params: IdParams }>('/v1/conversations/:id/stream-tokens', async (request, reply) => {
    const auth = requirePermission(request, 'read');
    parseInput(emptyBody, request.body, 'body');
    const conversation = await loadConversation(ctx.db, auth.tenantId, request.params.id);
    const { token, expiresAt } = await issueStreamToken(ctx.redis, ctx.config.redisPrefix, {
      tenantId: auth.tenantId,
      conversationId: conversation.id,
      keyId: auth.keyId,
    });
    return reply.code(201).send({
      token,
      expiresAt: expiresAt.toISOString(),
      eventsUrl: `/v1/conversations/${conversation.id}/events?token=${token}`,
    });
  });

  app.get<{ Params: IdParams }>('/v1/conversations/:id/events', async (request, reply) => {
    const auth = requirePermission(request, 'read');
    const query = parseInput(eventsQuery, request.query, 'query');
    const header = request.headers['last-event-id'];
    const after =
      header !== undefined && header !== ''
        ? parseInput(eventIdSchema, Array.isArray(header) ? header[0] : header, 'headers')
        : query.lastEventId;
    const conversation = await loadConversation(ctx.db, auth.tenantId, request.params.id);
    const target = query.messageId
      ? await loadMessage(ctx.db, auth.tenantId, conversation.id, query.messageId)
      : null;
    if (target && query.until === 'turn') {
      const ended = await finishedTurnEvent(ctx.db, ctx.streams, target, after);
      if (ended) {
        // The turn ended long ago and its events left the log: answer with its end, from the database.
        reply.hijack();
        const finished = new SseConnection(reply.raw);
        finished.open();
        const { type, ...rest } = ended;
        finished.end(controlFrame(type, rest));
        return;
      }
    }

    // Resuming from an id the log no longer reaches (trimmed or expired) would skip events silently:
    // say so first, so the client reloads the history (GET /messages) and then follows on.
    const gap = after !== undefined ? await ctx.streams.resumeGap(conversation.id, after) : null;

    const connection = new SseConnection(reply.raw);
    let subscription: Subscription;
    try {
      subscription = ctx.subscriber.subscribe(conversation.id, {
        ...(after !== undefined ? { after } : {}),
        signal: connection.signal,
      });
    } catch (err) {
      if (err instanceof SubscriberClosedError) throw new ApiError('shutting_down', { cause: err });
      throw err;
    }

    reply.hijack();
    connection.open();
    connection.startHeartbeat(ctx.config.sseHeartbeatMs);
    if (gap?.gap) {
      await connection.send(controlFrame('stream.gap', { after, oldestId: gap.oldestId }));
    }
    const log = request.log.child({ conversationId: conversation.id });
    ctx.metrics.sseOpened();
    log.debug({ event: 'sse.stream_started', after: after ?? null }, 'event stream opened');
    const done = pump(subscription, connection, {
      after: after ?? null,
      untilTurn: query.until === 'turn',
      messageId: query.messageId ?? null,
      log,
    }).finally(() => {
      ctx.metrics.sseClosed(connection.reason ?? 'closed');
      log.debug({ event: 'sse.stream_completed', reason: connection.reason }, 'event stream closed');
    });
    ctx.sse.track(connection, done);
    await done;
  });
}

interface PumpOptions {
  after: string | null;
  untilTurn: boolean;
  messageId: string | null;
  log: FastifyBaseLogger;
}

/** Forward the subscription to the socket, one frame at a time, until it ends for one of its reasons. */
async function pump(subscription: Subscription, connection: SseConnection, opts: PumpOptions): Promise<void> {
  let finalFrame: string | undefined;
  try {
    for await (const delivered of subscription) {
      if (opts.messageId !== null && delivered.event.messageId !== opts.messageId) continue;
      if (!(await connection.send(eventFrame(delivered), () => subscription.ended))) {
        connection.abort('client_closed');
        break;
      }
      if (opts.untilTurn && isTerminalEvent(delivered.event)) {
        connection.abort('turn_ended');
        break;
      }
    }
    // The subscription ended by itself: the client left, the server is shutting down, or the subscriber closed.
    connection.abort('subscription_ended');
  } catch (err) {
    if (err instanceof SubscriberOverflowError) {
      connection.abort('overflow');
      const lastEventId = err.lastDeliveredId ?? opts.after;
      finalFrame = controlFrame('stream.overflow', { lastEventId }, lastEventId);
      opts.log.warn(
        { event: 'sse.overflow_completed', lastEventId, highWaterMark: err.highWaterMark },
        'client too slow; disconnected with a resumable id',
      );
    } else {
      connection.abort('error');
      opts.log.error({ event: 'sse.stream_failed', err: errorText(err) }, 'event stream failed');
      finalFrame = commentFrame('error: the stream failed; reconnect with Last-Event-ID');
    }
  } finally {
    subscription.close();
  }
  if (connection.reason === 'shutdown')
    finalFrame = commentFrame('server shutting down; reconnect with Last-Event-ID');
  connection.end(finalFrame);
}
