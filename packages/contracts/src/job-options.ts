import type { JobsOptions } from 'bullmq';

/** Name of the custom backoff strategy the worker registers (`settings.backoffStrategy`). */
export const TURN_BACKOFF = 'turn';

/**
 * Retry policy of a turn job (the queue catalog entry). Attempts count only real failures:
 * rate limits and lease waits delay the job without consuming one.
 */
export const TURN_JOB_OPTIONS: JobsOptions = {
  attempts: 6,
  backoff: { type: TURN_BACKOFF },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};
