import { FLEET_DEFAULTS } from '@turnstream/config';

/** The default name of the BullMQ queue every turn job goes through (`TURNS_QUEUE_NAME`). */
export const TURNS_QUEUE = FLEET_DEFAULTS.TURNS_QUEUE_NAME;

/** Job name of a turn job inside {@link TURNS_QUEUE}. */
export const TURN_JOB_NAME = 'turn';

/**
 * Deterministic BullMQ job id for a user message: enqueuing the same message twice
 * (an API retry, another service) yields one job.
 */
export function turnJobId(messageId: string): string {
  return `turn-${messageId}`;
}
