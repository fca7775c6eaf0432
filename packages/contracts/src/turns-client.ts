import { randomUUID } from 'node:crypto';
import { FLEET_DEFAULTS } from '@turnstream/config';
import { type ConnectionOptions, Queue } from 'bullmq';
import { TURN_JOB_OPTIONS } from './job-options.ts';
import { TURN_JOB_NAME, TURNS_QUEUE, turnJobId } from './queue.ts';
import { type TurnJob, type TurnJobInput, turnJobSchema } from './turn-job.ts';

export interface TurnsClientOptions {
  /** ioredis connection or options for BullMQ. */
  connection: ConnectionOptions;
  /** BullMQ key prefix (`BULL_PREFIX`). Default `bull` (must match the workers'). */
  prefix?: string;
  /** Queue name (`TURNS_QUEUE_NAME`). Default `turns` (must match the workers'). */
  queueName?: string;
}

/**
 * For other services that integrate by enqueuing turns directly (no HTTP hop).
 * The payload is validated before it is sent; the job id is derived from the message id,
 * so enqueuing the same message twice yields one job.
 */
export class TurnsClient {
  readonly queue: Queue<TurnJob>;

  constructor(opts: TurnsClientOptions) {
    this.queue = new Queue<TurnJob>(opts.queueName ?? TURNS_QUEUE, {
      connection: opts.connection,
      prefix: opts.prefix ?? FLEET_DEFAULTS.BULL_PREFIX,
    });
  }

  /** Enqueue a user message's turn. `content` is required when the message is not stored yet. */
  async enqueue(
    input: Omit<TurnJobInput, 'v' | 'messageId'> & { messageId?: string },
  ): Promise<{ jobId: string; messageId: string }> {
    const messageId = input.messageId ?? randomUUID();
    const job = turnJobSchema.parse({
      ...input,
      v: 1,
      messageId,
      acceptedAt: input.acceptedAt ?? Date.now(),
    });
    const jobId = turnJobId(messageId);
    await this.queue.add(TURN_JOB_NAME, job, { ...TURN_JOB_OPTIONS, jobId });
    return { jobId, messageId };
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
