import { parseTurnJob } from '@turnstream/contracts';
import { type Db, failTurn } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import type { Job } from 'bullmq';
import { TRANSIENT_REASON } from './errors.ts';
import { INTERNAL_ERROR_TEXT, readableTransientExhausted, STALL_EXHAUSTED_TEXT } from './readable-errors.ts';

export { INTERNAL_ERROR_TEXT, STALL_EXHAUSTED_TEXT } from './readable-errors.ts';

/** The reason BullMQ fails a job that stalled more often than `maxStalledCount` allows. */
export const STALL_LIMIT_REASON = 'job stalled more than allowable limit';

/**
 * Codes of a job rejected before it was any message's turn (invalid job, no such conversation or
 * message, an id of another tenant): the message it names, if any, is not failed by it.
 */
const NOT_A_TURN = [
  'invalid_job',
  'conversation_not_found',
  'message_not_found',
  'tenant_not_found',
  'id_conflict',
  'idempotency_conflict',
];

export type JobFailure =
  /** The failure is the turn's own: the message fails with this code and text (if still open). */
  | { kind: 'turn'; code: string; text: string }
  /** Not the message's failure (a bogus job): nothing is written. */
  | { kind: 'not_a_turn'; code: string };

/**
 * What a job's final failure means for its message. A stall budget used up is `stall_exhausted`; a
 * transient error left over is `transient_exhausted`; a job rejected before it was a turn fails no
 * message; anything else (an unexpected error on every attempt) is `internal_error`. A turn that
 * recorded its own outcome (failed, cancelled) is already final and left as it is.
 */
export function classifyJobFailure(err: Error): JobFailure {
  if (err.message === STALL_LIMIT_REASON)
    return { kind: 'turn', code: 'stall_exhausted', text: STALL_EXHAUSTED_TEXT };
  const code = /^([a-z_]+):/.exec(err.message)?.[1];
  if (code && NOT_A_TURN.includes(code)) return { kind: 'not_a_turn', code };
  if (code === TRANSIENT_REASON)
    return { kind: 'turn', code: 'transient_exhausted', text: readableTransientExhausted() };
  return { kind: 'turn', code: 'internal_error', text: INTERNAL_ERROR_TEXT };
}

/**
 * A job that failed for good must not leave its message pending forever: when the failure is the
 * turn's own, the message fails with a readable error row (code by `classifyJobFailure`) and
 * subscribers get `turn.failed`. A turn that already ended is left as it is.
 */
export async function abandonFailedJob(
  deps: { db: Db; streams: TurnStreams; logger: Logger },
  job: Job | undefined,
  err: Error,
): Promise<boolean> {
  if (!job?.finishedOn) return false;
  const parsed = parseTurnJob(job.data);
  if (!parsed.ok) return false;
  const failure = classifyJobFailure(err);
  if (failure.kind === 'not_a_turn') return false;
  const { tenantId, conversationId, messageId } = parsed.job;
  const res = await failTurn(deps.db, {
    tenantId,
    conversationId,
    messageId,
    errorCode: failure.code,
    content: failure.text,
    detail: err.message.slice(0, 500),
  });
  if (!res.ok) return false;
  await deps.streams.publish(conversationId, null, [
    { type: 'turn.failed', messageId, code: failure.code, error: failure.text },
  ]);
  deps.logger.error(
    {
      event: 'turn.abandon_completed',
      conversationId,
      messageId,
      jobId: job.id,
      code: failure.code,
      reason: err.message.slice(0, 200),
    },
    'job failed for good; message marked failed',
  );
  return true;
}
