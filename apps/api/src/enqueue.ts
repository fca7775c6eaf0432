import { enqueueTurn as enqueueTurnJob } from '@turnstream/contracts';
import type { Message } from '@turnstream/db';
import type { Queue } from 'bullmq';

/**
 * Enqueue the turn of a stored user message with the shared `enqueueTurn` (job id derived from the
 * message id, payload validated when produced as well as when consumed, `acceptedAt` now).
 */
export async function enqueueTurn(queue: Queue, message: Message): Promise<string> {
  const { jobId } = await enqueueTurnJob(queue, {
    v: 2,
    tenantId: message.tenantId,
    conversationId: message.conversationId,
    messageId: message.id,
    mode: message.mode,
  });
  return jobId;
}
