import { FLEET_DEFAULTS } from '@turnstream/config';

/** The default name of the BullMQ queue every turn job goes through (`TURNS_QUEUE_NAME`). */
export const TURNS_QUEUE = FLEET_DEFAULTS.TURNS_QUEUE_NAME;

/**
 * The default name of the BullMQ queue where other services hand in messages (see `TurnsClient.enqueue`): a worker stores
 * the message (creating the conversation of an `externalConversationId` on first use), publishes
 * `turn.queued` and enqueues the turn on {@link TURNS_QUEUE}. The job JSON is the same as a turn job's.
 */
export const TURNS_INTAKE_QUEUE = FLEET_DEFAULTS.TURNS_INTAKE_QUEUE_NAME;

/** Job name of a turn job inside {@link TURNS_QUEUE} (and of an intake job in {@link TURNS_INTAKE_QUEUE}). */
export const TURN_JOB_NAME = 'turn';

/** The deployment's default BullMQ key prefix (`BULL_PREFIX`). */
export const DEFAULT_BULL_PREFIX = FLEET_DEFAULTS.BULL_PREFIX;

/**
 * Deterministic BullMQ job id for a user message: enqueuing the same message twice
 * (an API retry, another service) yields one job.
 */
export function turnJobId(messageId: string): string {
  return `turn-${messageId}`;
}
