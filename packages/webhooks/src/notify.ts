import { isTerminalEvent } from '@turnstream/contracts';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import type { Queue } from 'bullmq';
import { enqueueFanout, isTurnOutcomeType } from './jobs.ts';

/**
 * Wrap a process's {@link TurnStreams} so that every turn outcome it publishes (a terminal event that
 * the log accepted) also queues a webhook fan-out. The fan-out is added without being awaited: the
 * publisher (a turn ending in the worker, a cancel in the API) never waits for webhooks, and a Redis
 * error here is logged, never raised.
 */
export function withWebhookNotices(streams: TurnStreams, queue: Queue, logger: Logger): TurnStreams {
  return {
    ...streams,
    async publish(conversationId, fence, events) {
      const result = await streams.publish(conversationId, fence, events);
      if (!result.ok) return result;
      for (const event of events) {
        if (!isTerminalEvent(event) || !isTurnOutcomeType(event.type)) continue;
        const job = { conversationId, messageId: event.messageId, type: event.type, at: Date.now() };
        enqueueFanout(queue, job).catch((err: unknown) =>
          logger.warn(
            { event: 'webhook.fanout_enqueue_failed', messageId: event.messageId, err: String(err) },
            'could not queue a webhook fan-out',
          ),
        );
      }
      return result;
    },
  };
}
