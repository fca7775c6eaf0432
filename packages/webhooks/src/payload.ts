import type { Message } from '@turnstream/db';
import type { ConversationDeletedFanoutJob, FanoutJob } from './jobs.ts';

/**
 * The body of a delivery, in the Standard Webhooks shape `{ type, timestamp, data }`. `data.reply` is
 * the turn's reply as stored: the full answer (completed), the readable error (failed, with its
 * `errorCode`), the partial answer (cancelled), or null when the turn ended before any reply.
 */
export function turnOutcomePayload(job: FanoutJob, message: Message, reply: Message | null) {
  return envelope(job, {
    tenantId: message.tenantId,
    conversationId: message.conversationId,
    messageId: message.id,
    status: message.status,
    reply: reply
      ? {
          id: reply.id,
          role: reply.role,
          status: reply.status,
          content: reply.content,
          errorCode: reply.errorCode,
          stopReason: reply.stopReason,
          usage: reply.usage,
        }
      : null,
  });
}

/**
 * The body of a `conversation.deleted` delivery: which conversation (and its external id) is gone,
 * and whether a key deleted it (`api`) or the retention sweep (`retention`). Never any content.
 */
export function conversationDeletedPayload(job: ConversationDeletedFanoutJob) {
  return envelope(job, {
    tenantId: job.tenantId,
    conversationId: job.conversationId,
    externalId: job.externalId,
    via: job.via,
  });
}

/** The Standard Webhooks body: `{ type, timestamp, data }`. */
function envelope<T>(job: { type: string; at: number }, data: T) {
  return { type: job.type, timestamp: new Date(job.at).toISOString(), data };
}
