import type { Queue } from 'bullmq';
import { turnJobId } from './queue.ts';

/**
 * Wake a message's turn job if it is waiting out a delay (it was queued behind another turn of its
 * conversation). Whoever ends a turn, a worker or a cancel, calls this for the next pending message, so
 * consecutive messages run back to back. Returns whether a job was promoted.
 */
export async function promoteTurnJob(queue: Queue, messageId: string): Promise<boolean> {
  const job = await queue.getJob(turnJobId(messageId));
  if (!job || !(await job.isDelayed())) return false;
  try {
    await job.promote();
    return true;
  } catch {
    // It left the delayed set in the meantime (its delay ended, or it was removed): nothing to wake.
    return false;
  }
}
