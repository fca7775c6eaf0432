import type { JobsOptions, Queue } from 'bullmq';

/** The BullMQ queue of webhook deliveries (one job per target of an outcome). */
export const WEBHOOKS_QUEUE = 'webhooks';
/**
 * The BullMQ queue of fan-outs (one job per turn outcome): a queue of its own, so that deliveries
 * stuck on slow receivers never hold up the creation of everyone else's.
 */
export const WEBHOOK_FANOUT_QUEUE = 'webhook-fanout';

/** A turn's terminal events: the outcomes a tenant can subscribe to. */
export const TURN_OUTCOME_TYPES = ['turn.completed', 'turn.failed', 'turn.cancelled'] as const;
export type TurnOutcomeType = (typeof TURN_OUTCOME_TYPES)[number];

/** Event types a tenant can subscribe an endpoint to: the turn outcomes, and a conversation deleted. */
export const WEBHOOK_EVENT_TYPES = [...TURN_OUTCOME_TYPES, 'conversation.deleted'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export function isTurnOutcomeType(type: string): type is TurnOutcomeType {
  return (TURN_OUTCOME_TYPES as readonly string[]).includes(type);
}

/** `fanout`: a turn ended; find its targets and create their deliveries. */
export interface FanoutJob {
  conversationId: string;
  messageId: string;
  type: TurnOutcomeType;
  /** When the outcome was published (ms since epoch). */
  at: number;
}

/** `fanout` of a deleted conversation (its rows are gone: the job carries what the payload says). */
export interface ConversationDeletedFanoutJob {
  type: 'conversation.deleted';
  tenantId: string;
  conversationId: string;
  externalId: string | null;
  /** `api`: `DELETE /v1/conversations/:id`; `retention`: the retention sweep. */
  via: 'api' | 'retention';
  /** When it was deleted (ms since epoch). */
  at: number;
}

/** `deliver`: POST one delivery (retried with backoff by BullMQ). */
export interface DeliverJob {
  deliveryId: string;
}

export const FANOUT_JOB = 'fanout';
export const DELIVER_JOB = 'deliver';

const FANOUT_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * Queue the fan-out of a turn's outcome. The job id is derived from the message and event, so a
 * repeated notice adds nothing; the deliveries it creates are unique per target too.
 */
export async function enqueueFanout(queue: Queue, job: FanoutJob): Promise<void> {
  await queue.add(FANOUT_JOB, job, { ...FANOUT_OPTIONS, jobId: `fanout-${job.messageId}-${job.type}` });
}

/** Queue the fan-out of a deleted conversation (once per conversation, however often it is asked). */
export async function enqueueConversationDeleted(
  queue: Queue,
  job: Omit<ConversationDeletedFanoutJob, 'type'>,
): Promise<void> {
  const data: ConversationDeletedFanoutJob = { type: 'conversation.deleted', ...job };
  await queue.add(FANOUT_JOB, data, {
    ...FANOUT_OPTIONS,
    jobId: `fanout-conversation-${job.conversationId}-deleted`,
  });
}

export interface DeliveryRetryPolicy {
  /** Attempts in all (the first included). */
  attempts: number;
  /** Delay before the second attempt; doubled for each one after (BullMQ's exponential backoff). */
  backoffMs: number;
}

export const DEFAULT_RETRY_POLICY: DeliveryRetryPolicy = { attempts: 8, backoffMs: 5_000 };

export async function enqueueDelivery(
  queue: Queue,
  deliveryId: string,
  policy: DeliveryRetryPolicy,
): Promise<void> {
  await queue.add(DELIVER_JOB, { deliveryId } satisfies DeliverJob, {
    jobId: `deliver-${deliveryId}`,
    attempts: policy.attempts,
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  });
}
