import type { Job, JobsOptions, Queue } from 'bullmq';
import { TURN_JOB_OPTIONS } from './job-options.ts';
import { TURN_JOB_NAME, turnJobId } from './queue.ts';
import { type TurnJob, type TurnJobInput, turnJobSchema } from './turn-job.ts';

/** Outcome of {@link enqueueTurn}. */
export interface EnqueuedTurn {
  /** The BullMQ job id: derived from the message id ({@link turnJobId}) unless given. */
  jobId: string;
  /** The payload as validated and sent. */
  payload: TurnJob;
  /** The BullMQ job (the one already there when the message was enqueued before). */
  job: Job;
}

/**
 * The one way a turn job is produced (the API, the worker's reconciler and intake, `TurnsClient`):
 * the payload is validated (a `ZodError` naming the field otherwise), the job id is derived from the
 * message id so the same message enqueued twice is one job, and the catalog's job options apply.
 * `acceptedAt` defaults to now. `jobOptions` replace the turn job options (the intake queue uses
 * `INTAKE_JOB_OPTIONS` and the tenant-scoped `intakeJobId` as `jobId`).
 */
export async function enqueueTurn(
  queue: Queue,
  input: TurnJobInput,
  jobOptions: JobsOptions = TURN_JOB_OPTIONS,
): Promise<EnqueuedTurn> {
  const payload = turnJobSchema.parse({ ...input, acceptedAt: input.acceptedAt ?? Date.now() });
  const jobId = jobOptions.jobId ?? turnJobId(payload.messageId);
  const job = await queue.add(TURN_JOB_NAME, payload, { ...jobOptions, jobId });
  return { jobId, payload, job };
}
