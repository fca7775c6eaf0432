import { parseTurnJob } from '@turnstream/contracts';
import { abandonTurn, type Db } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import type { Job } from 'bullmq';

export const INTERNAL_ERROR_TEXT =
  'The assistant could not answer this message because of an internal error.';

/**
 * A job that failed for good without its turn recording an outcome (an unexpected error on every
 * attempt) must not leave its message pending forever: the message fails with a readable error row
 * and subscribers get `turn.failed`. A turn that already ended is left as it is.
 */
export async function abandonFailedJob(
  deps: { db: Db; streams: TurnStreams; logger: Logger },
  job: Job | undefined,
  err: Error,
): Promise<boolean> {
  if (!job?.finishedOn) return false;
  const parsed = parseTurnJob(job.data);
  if (!parsed.ok) return false;
  const { tenantId, conversationId, messageId } = parsed.job;
  const reply = await abandonTurn(deps.db, {
    tenantId,
    conversationId,
    messageId,
    errorCode: 'internal_error',
    content: INTERNAL_ERROR_TEXT,
  });
  if (!reply) return false;
  await deps.streams.publish(conversationId, null, [
    { type: 'turn.failed', messageId, code: 'internal_error', error: INTERNAL_ERROR_TEXT },
  ]);
  deps.logger.error(
    {
      event: 'turn.abandon_completed',
      conversationId,
      messageId,
      jobId: job.id,
      reason: err.message.slice(0, 200),
    },
    'job failed for good; message marked failed',
  );
  return true;
}
