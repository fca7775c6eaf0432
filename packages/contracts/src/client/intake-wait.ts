import { setTimeout as sleep } from 'node:timers/promises';
import { Job, type Queue, type QueueEvents } from 'bullmq';

/**
 * How often `enqueue` reads its intake job's state while no event has settled it. The job's events
 * settle it at once; the read is there for an event the client's `QueueEvents` connection missed (a
 * blocking read reset while the process was starved, a reconnect): such a job is settled within this
 * interval instead of waiting out the enqueue timeout and reporting a message that was stored as not
 * stored.
 */
export const INTAKE_RECHECK_MS = 2_000;

/** The intake job was removed before a worker took it: nothing was stored. */
export class IntakeRemovedError extends Error {
  override readonly name = 'IntakeRemovedError';
}

export interface IntakeWaitOptions {
  timeoutMs: number;
  recheckMs?: number;
}

/**
 * The intake job's return value once a worker finished it, from its `completed` event or from a read
 * of its state, whichever comes first. Rejects as BullMQ's `waitUntilFinished` does: with the job's
 * failure reason, or "timed out before finishing" after `timeoutMs`; with {@link IntakeRemovedError}
 * when the job is removed before it ran.
 */
export async function waitForIntakeJob(
  queue: Queue,
  job: Job,
  events: QueueEvents,
  opts: IntakeWaitOptions,
): Promise<unknown> {
  const stop = new AbortController();
  // A finished job removed is an earlier job under the same id (`enqueue` removes a failed one first).
  let onRemoved: ((args: { jobId: string; prev: string }) => void) | undefined;
  const removed = new Promise<never>((_, reject) => {
    onRemoved = ({ jobId, prev }) => {
      if (jobId !== job.id || prev === 'failed' || prev === 'completed') return;
      reject(new IntakeRemovedError());
    };
    events.on('removed', onRemoved);
  });
  try {
    return await Promise.race([
      job.waitUntilFinished(events, opts.timeoutMs),
      removed,
      finishedByState(queue, job.id!, opts.recheckMs ?? INTAKE_RECHECK_MS, stop.signal),
    ]);
  } finally {
    stop.abort();
    if (onRemoved) events.off('removed', onRemoved);
  }
}

/** A finished intake job as one read of it finds it: its return value, or its failure reason. */
export type FinishedJob =
  | { state: 'completed'; returnvalue: unknown }
  | { state: 'failed'; failedReason: string };

/**
 * One read of a job: `undefined` while it is not finished, or when it is gone (removed since; the
 * events settle that). The state is read first, then the job: a job read before its state could
 * predate its completion (no return value yet) and still be found completed. Redis errors reject.
 */
export async function readFinishedJob(queue: Queue, id: string): Promise<FinishedJob | undefined> {
  const state = await queue.getJobState(id);
  if (state !== 'completed' && state !== 'failed') return undefined;
  const job = await Job.fromId(queue, id);
  if (!job) return undefined;
  if (state === 'completed') return { state, returnvalue: job.returnvalue };
  return { state, failedReason: job.failedReason };
}

/** Settles once a read of the job finds it finished; never settles otherwise (until `signal`). */
async function finishedByState(
  queue: Queue,
  id: string,
  everyMs: number,
  signal: AbortSignal,
): Promise<unknown> {
  for (;;) {
    await sleep(everyMs, undefined, { signal });
    let finished: FinishedJob | undefined;
    try {
      finished = await readFinishedJob(queue, id);
    } catch {
      continue; // Redis unreachable for a moment: the events, or the next read, settle it.
    }
    if (!finished) continue;
    if (finished.state === 'completed') return finished.returnvalue;
    throw new Error(finished.failedReason);
  }
}
