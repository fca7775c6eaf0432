/**
 * What a worker returns for a job on the intake queue (`turns-intake`): the BullMQ job's return value.
 * The message is stored, `turn.queued` is in the log and the turn is on the `turns` queue.
 */
export interface IntakeResult {
  /** The conversation (created now for a new `externalConversationId`). */
  conversationId: string;
  /** The user message. */
  messageId: string;
  /** false when the message was stored already (the same message enqueued again). */
  created: boolean;
  /** The message's status when the intake ended (`pending` unless its turn already ended). */
  status: string;
}

/** Job options of an intake job: a few quick retries (the database may be briefly away). */
export const INTAKE_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 200 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600 },
} as const;
