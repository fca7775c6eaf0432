import type { Conversation } from '@turnstream/db';
import type { Job, JobType, Queue } from 'bullmq';

/** States an intake job waits in before a worker takes it (an active one is the worker's: see the tombstone). */
const NOT_YET_TAKEN: JobType[] = ['waiting', 'delayed', 'prioritized'];
/** Jobs read per page while scanning the intake queue. */
const SCAN_PAGE = 500;

/** Whether an intake job's data (a producer's JSON: anything) is a message for this conversation. */
export function intakeJobTargets(
  data: unknown,
  conversation: Pick<Conversation, 'id' | 'tenantId' | 'externalId'>,
): boolean {
  if (typeof data !== 'object' || data === null) return false;
  const job = data as { tenantId?: unknown; conversationId?: unknown; externalConversationId?: unknown };
  if (job.tenantId !== conversation.tenantId) return false;
  if (job.conversationId === conversation.id) return true;
  return conversation.externalId !== null && job.externalConversationId === conversation.externalId;
}

/**
 * Remove the messages still waiting on the intake queue (waiting, delayed or prioritized: not yet
 * taken by a worker) for this conversation, named by its id or by its external id. Intake job ids are
 * the producers' choice, so the queue is scanned: it holds only messages not yet stored, normally few.
 * Returns how many were removed (one taken by a worker meanwhile is left to it).
 */
export async function removeIntakeJobs(
  intake: Queue,
  conversation: Pick<Conversation, 'id' | 'tenantId' | 'externalId'>,
): Promise<number> {
  const targeted: string[] = [];
  // One state at a time: BullMQ applies the range to each state it is given.
  for (const state of NOT_YET_TAKEN) {
    for (let start = 0; ; start += SCAN_PAGE) {
      const page: Job[] = await intake.getJobs(state, start, start + SCAN_PAGE - 1, true);
      for (const job of page) {
        if (job?.id !== undefined && intakeJobTargets(job.data, conversation)) targeted.push(job.id);
      }
      if (page.length === 0) break;
    }
  }
  const removed = await Promise.all(targeted.map((id) => intake.remove(id)));
  return removed.filter((n) => n > 0).length;
}
