import { isTerminalEvent } from '@turnstream/contracts';
import type { Db } from '@turnstream/db';
import {
  type ResumeCheck,
  SubscriberClosedError,
  SubscriberConnectionEndedError,
  SubscriberOverflowError,
  type Subscription,
} from '@turnstream/streams';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { requirePermission } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { ApiError, ERROR_CATALOG } from '../errors.ts';
import { finishedTurnEvent } from '../finished-turn.ts';
import { loadConversation, loadMessage } from '../lookups.ts';
import { emptyBody, eventIdSchema, eventsQuery } from '../schemas.ts';
import { commentFrame, controlFrame, eventFrame, SSE_HEADERS, SseConnection } from '../sse.ts';
import { issueStreamToken } from '../stream-tokens.ts';
import { parseInput, validationError } from '../validation.ts';
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
    const resume = resumeId(request.headers['last-event-id'], query.lastEventId);
    const conversation = await loadConversation(ctx.db, auth.tenantId, request.params.id);
    const target = query.messageId
      ? await loadTurnMessage(ctx.db, auth.tenantId, conversation.id, query.messageId)
      : null;
    // Decided before the stream opens: an impossible resume id is a 400 (which an EventSource does
    // not retry), never a 200 that then fails or waits forever.
    const start = resume ? await resumeStart(ctx, conversation.id, resume) : null;
    if (request.method === 'HEAD') return reply.code(200).headers(SSE_HEADERS).send();
    const after = resume?.id;

    if (target && query.until === 'turn') {
      const ended = await finishedTurnEvent(ctx.db, ctx.streams, target, after);
      if (ended) {
        // The turn ended long ago and its events left the log: answer with its end, from the database.
        reply.hijack();
        const finished = new SseConnection(reply.raw);
        finished.open(reply.getHeaders());
        const { type, ...rest } = ended;
        finished.end(controlFrame(type, rest));
        return;
      }
    }

    const replayAfter = start?.kind === 'gap' ? start.replayAfter : after;
    const connection = new SseConnection(reply.raw);
    let subscription: Subscription;
    try {
      subscription = ctx.subscriber.subscribe(conversation.id, {
        ...(replayAfter !== undefined ? { after: replayAfter } : {}),
        signal: connection.signal,
      });
    } catch (err) {
      if (err instanceof SubscriberClosedError) throw new ApiError('shutting_down', { cause: err });
      if (err instanceof SubscriberConnectionEndedError) {
        throw new ApiError('stream_unavailable', { cause: err });
      }
      throw err;
    }

    reply.hijack();
    connection.open(reply.getHeaders());
    connection.startHeartbeat(ctx.config.sseHeartbeatMs);
    if (start?.kind === 'gap') {
      // The log no longer reaches (or never issued) that id: say so first, so the client reloads the
      // history (GET /messages) and then follows on.
      await connection.send(controlFrame('stream.gap', { after, oldestId: start.oldestId }));
    }
    // Fields rather than a child logger: no per-stream logger (and its bindings) for lines rarely written.
    const log = request.log;
    const conversationId = conversation.id;
    ctx.metrics.sseOpened();
    log.debug({ event: 'sse.stream_started', conversationId, after: after ?? null }, 'event stream opened');
    const done = pump(subscription, connection, {
      after: replayAfter ?? null,
      untilTurn: query.until === 'turn',
      messageId: target?.id ?? null,
      log,
      conversationId,
    }).finally(() => {
      ctx.metrics.sseClosed(connection.reason ?? 'closed');
      log.debug(
        { event: 'sse.stream_completed', conversationId, reason: connection.reason },
        'event stream closed',
      );
    });
    ctx.sse.track(connection, done, auth.keyId);
    await done;
  });
}

interface ResumeId {
  id: string;
  location: 'headers' | 'query';
  field: string;
}

/** The id to resume after: the `Last-Event-ID` header, else `?lastEventId=` (already validated). */
function resumeId(header: string | string[] | undefined, fromQuery: string | undefined): ResumeId | null {
  if (header !== undefined && header !== '') {
    const id = parseInput(
      eventIdSchema,
      Array.isArray(header) ? header[0] : header,
      'headers',
      'Last-Event-ID',
    );
    return { id, location: 'headers', field: 'Last-Event-ID' };
  }
  return fromQuery === undefined ? null : { id: fromQuery, location: 'query', field: 'lastEventId' };
}

/** Check a resume id against the log: a future one is `validation_failed`; else continue or gap. */
async function resumeStart(
  ctx: RouteContext,
  conversationId: string,
  resume: ResumeId,
): Promise<ResumeCheck> {
  const check = await ctx.streams.resumeCheck(conversationId, resume.id);
  if (check.kind === 'future') {
    throw validationError([
      {
        location: resume.location,
        field: resume.field,
        message: 'is later than any event of this conversation (an id this server never sent)',
      },
    ]);
  }
  return check;
}

/**
 * The user message whose turn `?messageId=` names: the message itself, or the one a reply (assistant
 * or error row) answers. Events carry the user message's id.
 */
async function loadTurnMessage(db: Db, tenantId: string, conversationId: string, messageId: string) {
  const message = await loadMessage(db, tenantId, conversationId, messageId);
  if (message.role === 'user' || message.replyTo === null) return message;
  return loadMessage(db, tenantId, conversationId, message.replyTo);
}

interface PumpOptions {
  after: string | null;
  untilTurn: boolean;
  messageId: string | null;
  log: FastifyBaseLogger;
  conversationId: string;
}

/**
 * The last frame of a stream whose subscription failed (its log could not be read within the
 * subscriber's retry bound, its Redis connection ended for good, Redis refused its subscription): a
 * `stream.error` event with the catalog code `stream_unavailable` and the id to resume after, so any
 * client (not only an `EventSource`, which reconnects by itself) knows to reconnect with Last-Event-ID.
 */
function failedFrame(err: unknown, lastEventId: string | null, opts: PumpOptions): string {
  opts.log.error(
    {
      event: 'sse.stream_failed',
      conversationId: opts.conversationId,
      code: 'stream_unavailable',
      lastEventId,
      err: errorText(err),
    },
    'event stream failed',
  );
  const { message } = ERROR_CATALOG.stream_unavailable;
  return controlFrame('stream.error', { code: 'stream_unavailable', message, lastEventId }, lastEventId);
}

/** Most text written to the socket in one go when events are waiting (a resume, a burst). */
const MAX_WRITE_CHARS = 64 * 1024;

/**
 * Forward the subscription to the socket until it ends for one of its reasons. Events already
 * waiting in the subscription (a catch-up page, a burst of live batches) go out in one write.
 */
async function pump(subscription: Subscription, connection: SseConnection, opts: PumpOptions): Promise<void> {
  let finalFrame: string | undefined;
  const events = subscription[Symbol.asyncIterator]();
  const stopped = () => subscription.ended;
  try {
    for (let next = await events.next(); !next.done; next = await events.next()) {
      let frames = '';
      let turnEnded = false;
      for (;;) {
        const delivered = next.value;
        if (opts.messageId === null || delivered.event.messageId === opts.messageId) {
          frames += eventFrame(delivered);
          turnEnded = opts.untilTurn && isTerminalEvent(delivered.event);
        }
        if (turnEnded || subscription.buffered === 0 || frames.length >= MAX_WRITE_CHARS) break;
        // Waiting in the subscription's buffer: resolves at once.
        next = await events.next();
        if (next.done) break;
      }
      if (frames !== '') {
        let sent = connection.send(frames, stopped);
        if (typeof sent !== 'boolean') sent = await sent;
        if (!sent) {
          connection.abort('client_closed');
          break;
        }
      }
      if (turnEnded) {
        connection.abort('turn_ended');
        break;
      }
      if (next.done) break;
    }
    // The subscription ended by itself: the client left, the server is shutting down, or the subscriber closed.
    connection.abort('subscription_ended');
  } catch (err) {
    if (err instanceof SubscriberOverflowError) {
      connection.abort('overflow');
      const lastEventId = err.lastDeliveredId ?? opts.after;
      finalFrame = controlFrame('stream.overflow', { lastEventId }, lastEventId);
      opts.log.warn(
        {
          event: 'sse.overflow_completed',
          conversationId: opts.conversationId,
          lastEventId,
          highWaterMark: err.highWaterMark,
        },
        'client too slow; disconnected with a resumable id',
      );
    } else {
      connection.abort('error');
      finalFrame = failedFrame(err, subscription.lastDeliveredId ?? opts.after, opts);
    }
  } finally {
    subscription.close();
  }
  if (connection.reason === 'shutdown')
    finalFrame = commentFrame('server shutting down; reconnect with Last-Event-ID');
  // The key (or the key behind the stream token) was revoked: reconnecting with it answers 401.
  if (connection.reason === 'revoked') finalFrame = controlFrame('stream.revoked', {});
  connection.end(finalFrame);
}
