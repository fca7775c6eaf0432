import { TURN_JOB_NAME, TURN_JOB_OPTIONS, turnJobId, turnJobSchema } from '@turnstream/contracts';
import type { Message } from '@turnstream/db';
import type { Queue } from 'bullmq';

/**
 * Enqueue the turn of a stored user message: job id derived from the message id (one job per message),
 * payload validated when produced as well as when consumed, `acceptedAt` for the queue-wait metric.
 */
export async function enqueueTurn(queue: Queue, message: Message): Promise<string> {
  const jobId = turnJobId(message.id);
  const job = turnJobSchema.parse({
    v: 1,
    tenantId: message.tenantId,
    conversationId: message.conversationId,
    messageId: message.id,
    mode: message.mode,
    acceptedAt: Date.now(),
  });
  await queue.add(TURN_JOB_NAME, job, { ...TURN_JOB_OPTIONS, jobId });
  return jobId;
}
