import { parseTurnJob } from '@turnstream/contracts';
import { getMessage } from '@turnstream/db';
import type { Job, JobType } from 'bullmq';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import type { AdminContext } from './context.ts';
import { sendError } from './identity.ts';
import { audit, failRemovedTurn, retryFailedTurn } from './turn-actions.ts';

/** A write request to the board, by its bull-board route. */
export type BoardWrite =
  | { kind: 'job_remove'; queueName: string; jobId: string }
  | { kind: 'job_retry'; queueName: string; jobId: string }
  | { kind: 'job_update_data'; queueName: string; jobId: string }
  | { kind: 'queue_retry'; queueName: string; status: string }
  | { kind: 'queue_clean'; queueName: string; status: string }
  | { kind: 'queue_empty' | 'queue_obliterate'; queueName: string }
  | { kind: 'other'; queueName: string | null; route: string };

const API = '/admin/queues/api/queues';

/** Classify a board write from its route pattern and params. */
export function classifyBoardWrite(route: string, params: Record<string, string | undefined>): BoardWrite {
  const queueName = params.queueName ?? '';
  const jobId = params.jobId ?? '';
  const status = params.queueStatus ?? '';
  switch (route) {
    case `${API}/:queueName/:jobId/clean`:
      return { kind: 'job_remove', queueName, jobId };
    case `${API}/:queueName/:jobId/retry`:
      return { kind: 'job_retry', queueName, jobId };
    case `${API}/:queueName/:jobId/update-data`:
      return { kind: 'job_update_data', queueName, jobId };
    case `${API}/:queueName/retry/:queueStatus`:
      return { kind: 'queue_retry', queueName, status };
    case `${API}/:queueName/clean/:queueStatus`:
      return { kind: 'queue_clean', queueName, status };
    case `${API}/:queueName/empty`:
      return { kind: 'queue_empty', queueName };
    case `${API}/:queueName/obliterate`:
      return { kind: 'queue_obliterate', queueName };
    default:
      return { kind: 'other', queueName: params.queueName ?? null, route };
  }
}

/** Job states whose jobs a clean/empty/obliterate removes before any worker ran them to the end. */
function statesRemovedBy(write: BoardWrite): JobType[] {
  if (write.kind === 'queue_empty') return ['waiting', 'delayed', 'prioritized', 'waiting-children'];
  if (write.kind === 'queue_obliterate')
    return ['waiting', 'delayed', 'prioritized', 'waiting-children', 'active'];
  if (write.kind === 'queue_clean' && ['wait', 'delayed', 'active'].includes(write.status))
    return [write.status === 'wait' ? 'waiting' : (write.status as JobType)];
  return [];
}

/** Most jobs one board request acts on with Turnstream's own semantics. */
const MAX_JOBS = 10_000;

interface TurnRef {
  tenantId: string;
  conversationId: string;
  messageId: string;
}

function turnRef(job: Job | undefined | null): TurnRef | null {
  const parsed = parseTurnJob(job?.data);
  return parsed.ok
    ? {
        tenantId: parsed.job.tenantId,
        conversationId: parsed.job.conversationId,
        messageId: parsed.job.messageId,
      }
    : null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Turns whose jobs a board write is about to remove (their messages fail readably afterwards). */
    boardRemoving?: { write: BoardWrite; turns: TurnRef[] };
  }
}

/**
 * Turnstream's meaning of the board's writes on the turns queue:
 * - removing jobs (one, clean of waiting/delayed/active, empty, obliterate): a message whose job is
 *   gone fails readably (`removed_by_operator`) instead of being re-enqueued by the reconciler;
 * - retrying a failed job: the failed turn is retried as a new message (see `retryFailedTurn`); a job
 *   whose message never ended is retried by BullMQ as usual; retrying completed turn jobs is refused;
 * - editing a turn job's data is refused (the payload is a validated contract).
 * Every write is recorded in the audit trail.
 */
export function boardWriteHooks(ctx: AdminContext) {
  const isTurns = (queueName: string | null) => queueName === ctx.queue.name;

  async function preHandler(request: FastifyRequest, reply: FastifyReply) {
    if (request.method === 'GET' || request.method === 'HEAD' || !request.admin) return;
    const write = classifyBoardWrite(
      request.routeOptions.url ?? '',
      request.params as Record<string, string>,
    );
    if (write.kind === 'other' || !isTurns(write.queueName)) return;
    if (write.kind === 'job_update_data') {
      return sendError(
        reply,
        new ApiError('forbidden', { message: 'Turn job data cannot be edited: it is a validated contract.' }),
      );
    }
    if (write.kind === 'job_retry' || write.kind === 'queue_retry') {
      const result = await retryFromBoard(ctx, request, write);
      if (result instanceof ApiError) return sendError(reply, result);
      await audit(ctx, request.admin, {
        action: `board.${write.kind}`,
        detail: { queue: write.queueName, ...result },
      });
      return reply.code(200).send({});
    }
    const states = statesRemovedBy(write);
    const jobs: (Job | undefined)[] =
      write.kind === 'job_remove'
        ? [await ctx.queue.getJob(write.jobId)]
        : states.length > 0
          ? await ctx.queue.getJobs(states, 0, MAX_JOBS - 1)
          : [];
    const turns = jobs.map(turnRef).filter((t): t is TurnRef => t !== null);
    request.boardRemoving = { write, turns };
  }

  async function onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    if (request.method === 'GET' || request.method === 'HEAD' || !request.admin) return payload;
    if (reply.statusCode >= 400) return payload;
    const write =
      request.boardRemoving?.write ??
      classifyBoardWrite(request.routeOptions.url ?? '', request.params as Record<string, string>);
    if (write.kind === 'job_retry' || write.kind === 'queue_retry') return payload; // audited in preHandler
    let failed = 0;
    for (const turn of request.boardRemoving?.turns ?? []) {
      if (await failRemovedTurn(ctx, turn)) failed++;
    }
    const one =
      request.boardRemoving?.turns.length === 1 && write.kind === 'job_remove'
        ? request.boardRemoving.turns[0]
        : null;
    await audit(ctx, request.admin, {
      action: `board.${write.kind}`,
      tenantId: one?.tenantId ?? null,
      conversationId: one?.conversationId ?? null,
      messageId: one?.messageId ?? null,
      detail: { ...write, messagesFailed: failed },
    });
    if (failed > 0) {
      request.log.warn(
        { event: 'admin.board_remove_completed', action: write.kind, messagesFailed: failed },
        'jobs removed from the board; their messages failed readably',
      );
    }
    return payload;
  }

  return { preHandler, onSend };
}

async function retryFromBoard(
  ctx: AdminContext,
  request: FastifyRequest,
  write: Extract<BoardWrite, { kind: 'job_retry' | 'queue_retry' }>,
): Promise<ApiError | { jobs: number; retriedAsNewMessage: number; retriedInPlace: number }> {
  if (write.kind === 'queue_retry' && write.status !== 'failed') {
    return new ApiError('message_not_retryable', { message: 'Only failed turn jobs can be retried.' });
  }
  const jobs =
    write.kind === 'job_retry'
      ? [await ctx.queue.getJob(write.jobId)].filter((j): j is Job => Boolean(j))
      : await ctx.queue.getJobs(['failed'], 0, MAX_JOBS - 1);
  let asNew = 0;
  let inPlace = 0;
  for (const job of jobs) {
    const ref = turnRef(job);
    const message = ref ? await getMessage(ctx.db, ref.tenantId, ref.messageId) : null;
    if (message && message.status === 'failed') {
      await retryFailedTurn(ctx, request.log, message);
      asNew++;
    } else if (message && message.status !== 'pending') {
      if (write.kind === 'job_retry') {
        return new ApiError('message_not_retryable', {
          message: `This turn ended "${message.status}": only a failed turn can be retried.`,
          details: { status: message.status },
        });
      }
    } else if ((await job.getState()) === 'failed') {
      await job.retry('failed');
      inPlace++;
    }
  }
  return { jobs: jobs.length, retriedAsNewMessage: asNew, retriedInPlace: inPlace };
}
