import { randomBytes } from 'node:crypto';
import { type Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFinishedJob, waitForIntakeJob } from '../src/client/intake-wait.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const prefix = `tsiw${randomBytes(4).toString('hex')}`;
const TOKEN = 'intake-wait-test';
const RESULT = { conversationId: 'c-1', messageId: 'm-1' };

let queue: Queue;
let worker: Worker; // no processor: the test moves the jobs it takes

beforeEach(() => {
  const name = `intake${randomBytes(4).toString('hex')}`;
  queue = new Queue(name, { connection: redis, prefix });
  worker = new Worker(name, null, { connection: redis, prefix, autorun: false });
});
afterEach(async () => {
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

/** An intake job a worker has taken: active, not finished. */
async function activeJob(): Promise<{ added: Job; taken: Job }> {
  const added = await queue.add('intake', { text: 'hi' });
  const taken = await worker.getNextJob(TOKEN, { block: false });
  if (taken?.id !== added.id) throw new Error('the worker did not take the job just added');
  return { added, taken };
}

type Backend = ReturnType<Queue['getBackend']>;
type Read = 'getState' | 'getJobData';

/**
 * Runs `between` once, after the first of the two reads behind {@link readFinishedJob} (the job's
 * state, the job's hash; whichever comes first) has come back from Redis and before its caller sees
 * it, so the second read finds what `between` left. Both reads still go to Redis: this only orders the
 * test's writes between them. Returns the reads made, in order, as they come back.
 */
function betweenReads(between: () => Promise<unknown>): Read[] {
  const backend: Backend = queue.getBackend();
  const reads: Read[] = [];
  const hook = <K extends Read>(name: K) => {
    const read = backend[name].bind(backend) as (id: string) => ReturnType<Backend[K]>;
    backend[name] = (async (id: string) => {
      const result = await read(id);
      reads.push(name);
      if (reads.length === 1) await between();
      return result;
    }) as Backend[K];
  };
  hook('getState');
  hook('getJobData');
  return reads;
}

describe('readFinishedJob: one read of an intake job', () => {
  it('is undefined while the job waits or runs', async () => {
    const waiting = await queue.add('intake', { text: 'hi' });
    expect(await readFinishedJob(queue, waiting.id!)).toBeUndefined();
    await worker.getNextJob(TOKEN, { block: false });
    expect(await queue.getJobState(waiting.id!)).toBe('active');
    expect(await readFinishedJob(queue, waiting.id!)).toBeUndefined();
  });

  it('gives the return value of a completed job', async () => {
    const { taken } = await activeJob();
    await taken.moveToCompleted(RESULT, TOKEN, false);
    expect(await readFinishedJob(queue, taken.id!)).toEqual({ state: 'completed', returnvalue: RESULT });
  });

  it('gives the failure reason of a failed job', async () => {
    const { taken } = await activeJob();
    await taken.moveToFailed(new Error('rejected: no such conversation'), TOKEN, false);
    expect(await readFinishedJob(queue, taken.id!)).toEqual({
      state: 'failed',
      failedReason: 'rejected: no such conversation',
    });
  });

  it('is undefined for a removed job', async () => {
    const job = await queue.add('intake', { text: 'hi' });
    await job.remove();
    expect(await readFinishedJob(queue, job.id!)).toBeUndefined();
  });
});

describe('readFinishedJob: the job finishes between its two reads', () => {
  it('never finds the job completed without its return value', async () => {
    const { taken } = await activeJob();
    const reads = betweenReads(() => taken.moveToCompleted(RESULT, TOKEN, false));

    const found = await readFinishedJob(queue, taken.id!);

    expect(reads.length).toBeGreaterThan(0); // the job did finish between the reads
    expect(await queue.getJobState(taken.id!)).toBe('completed');
    // Not finished yet (the read that came first saw it running), or finished with its value: never
    // completed with no return value (enqueue then resolved with null and threw a TypeError).
    if (found !== undefined) expect(found).toEqual({ state: 'completed', returnvalue: RESULT });
    expect(await readFinishedJob(queue, taken.id!)).toEqual({ state: 'completed', returnvalue: RESULT });
  });

  it('is undefined for a finished job removed between the reads', async () => {
    const { taken } = await activeJob();
    await taken.moveToCompleted(RESULT, TOKEN, false);
    const reads = betweenReads(() => taken.remove());

    expect(await readFinishedJob(queue, taken.id!)).toBeUndefined();
    expect(reads.length).toBeGreaterThan(0);
  });
});

describe('waitForIntakeJob', () => {
  it('settles from a read of the state when the events never tell', async () => {
    // Never run: the completed event is never read, as when the client's blocking read missed it.
    const deaf = redis.duplicate();
    const events = new QueueEvents(queue.name, { connection: deaf, prefix, autorun: false });
    try {
      const { added, taken } = await activeJob();
      const backend = queue.getBackend();
      // The job finishes only once waitUntilFinished has made its own check (which would otherwise
      // find it finished) and the recheck is about to read the state: only the recheck can see it.
      const isFinished = backend.isFinished.bind(backend);
      let checked!: () => void;
      const waitChecked = new Promise<void>((resolve) => {
        checked = resolve;
      });
      backend.isFinished = async (...args) => {
        const result = await isFinished(...args);
        checked();
        return result;
      };
      const getState = backend.getState.bind(backend);
      let finished: Promise<unknown> | undefined;
      backend.getState = async (id) => {
        finished ??= waitChecked.then(() => taken.moveToCompleted(RESULT, TOKEN, false));
        await finished;
        return getState(id);
      };

      const value = await waitForIntakeJob(queue, added, events, { timeoutMs: 10_000, recheckMs: 10 });

      expect(value).toEqual(RESULT);
    } finally {
      await events.close();
      await deaf.quit();
    }
  });
});
