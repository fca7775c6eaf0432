import {
  CANCEL_FLAG_TTL_SECONDS,
  type CancelRequest,
  cancelChannel,
  cancelFlagKey,
  promoteTurnJob,
  turnJobId,
} from '@turnstream/contracts';
import {
  cancelTurn as cancelTurnRows,
  FINAL_USER_STATUSES,
  type Message,
  nextPendingAfter,
} from '@turnstream/db';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { requirePermission } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { loadConversation, loadMessage } from '../lookups.ts';
import { emptyBody } from '../schemas.ts';
import { parseInput } from '../validation.ts';
import { errorText } from './messages.ts';

interface MessageParams {
  id: string;
  messageId: string;
}

/** Job states in which no worker holds the turn: the job can simply be removed. */
const NOT_STARTED_STATES = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children']);

export type CancelOutcome =
  /** The turn had not started: job removed, message cancelled, `turn.cancelled` published here. */
  | { status: 'cancelled' }
  /** A worker runs the turn: it aborts on the cancel signal and publishes `turn.cancelled` itself. */
  | { status: 'cancelling' };

/**
 * Cancel a turn wherever it runs. First the cancel flag (a worker that starts the turn later sees it)
 * and the cancel channel (a worker running it aborts now); then, when the job has not started, remove
 * it and finish the message here. A removal refused because a worker just took the job is fine: that
 * worker sees the flag.
 */
export function cancelRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Params: MessageParams }>(
    '/v1/conversations/:id/messages/:messageId/cancel',
    async (request, reply) => {
      const auth = requirePermission(request, 'write');
      parseInput(emptyBody, request.body, 'body');
      const conversation = await loadConversation(ctx.db, auth.tenantId, request.params.id);
      const message = await loadMessage(ctx.db, auth.tenantId, conversation.id, request.params.messageId, {
        userOnly: true,
      });
      if (FINAL_USER_STATUSES.includes(message.status)) throw notCancellable(message);
      const log = request.log.child({ conversationId: conversation.id, messageId: message.id });

      const outcome = await cancelTurn(ctx, log, message);
      if (outcome.status === 'cancelled')
        return reply.code(200).send({ messageId: message.id, status: 'cancelled' });
      return reply.code(202).send({ messageId: message.id, status: 'cancelling' });
    },
  );
}

export async function cancelTurn(
  ctx: RouteContext,
  log: FastifyBaseLogger,
  message: Message,
): Promise<CancelOutcome> {
  const prefix = ctx.config.redisPrefix;
  const signal: CancelRequest = { conversationId: message.conversationId, messageId: message.id };
  await ctx.redis.set(
    cancelFlagKey(prefix, message.conversationId, message.id),
    '1',
    'EX',
    CANCEL_FLAG_TTL_SECONDS,
  );
  await ctx.redis.publish(cancelChannel(prefix), JSON.stringify(signal));

  const job = await ctx.queue.getJob(turnJobId(message.id));
  const state = job ? await job.getState() : 'missing';
  // A pending message without a job (its enqueue failed; the reconciler would re-enqueue it) has not started either.
  const notStarted = NOT_STARTED_STATES.has(state) || (state === 'missing' && message.status === 'pending');
  if (!notStarted) {
    log.info({ event: 'turn.cancel_requested', jobState: state }, 'cancel signalled to the running turn');
    return { status: 'cancelling' };
  }
  if (job) {
    try {
      await job.remove();
    } catch (err) {
      // Most likely a worker took the job in the meantime; it sees the flag and cancels.
      log.info(
        { event: 'turn.cancel_requested', jobState: 'active', reason: errorText(err) },
        'job already taken',
      );
      return { status: 'cancelling' };
    }
  }
  // The same ending as the worker's cancel: user row, open reply (a partial an earlier attempt left, kept
  // as cancelled) and attempts in one transaction.
  const ended = await cancelTurnRows(ctx.db, {
    tenantId: message.tenantId,
    conversationId: message.conversationId,
    messageId: message.id,
  });
  if (!ended.ok) {
    // Finished concurrently (by a worker that had seen the flag, or another cancel).
    if (ended.user?.status === 'cancelled') return { status: 'cancelled' };
    throw notCancellable(ended.user ?? message);
  }
  await ctx.streams.publish(message.conversationId, null, [
    { type: 'turn.cancelled', messageId: message.id, replyId: ended.reply?.id ?? null },
  ]);
  log.info({ event: 'turn.cancel_completed', stage: 'queued', jobState: state }, 'queued turn cancelled');
  // A message queued behind this one no longer has to wait for it.
  const next = await nextPendingAfter(ctx.db, message.conversationId, message.seq).catch(() => null);
  if (next) await promoteTurnJob(ctx.queue, next.id).catch(() => false);
  return { status: 'cancelled' };
}

function notCancellable(message: Message): ApiError {
  return new ApiError('message_not_cancellable', {
    message: `The turn of this message has already ended (status "${message.status}").`,
    details: { status: message.status },
  });
}
