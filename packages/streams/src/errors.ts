/**
 * A subscription's consumer fell more than `highWaterMark` events behind live delivery.
 * The subscription has ended and dropped its buffer; resume with a new subscription
 * `after: lastDeliveredId` (for SSE: disconnect, the client reconnects with `Last-Event-ID`).
 */
export class SubscriberOverflowError extends Error {
  override name = 'SubscriberOverflowError';
  constructor(
    /** Id of the last event handed to the consumer (`null`: none; resume with the original `after`). */
    readonly lastDeliveredId: string | null,
    /** The high-water mark that was exceeded. */
    readonly highWaterMark: number,
  ) {
    super(
      `subscriber fell more than ${highWaterMark} events behind (last delivered ${lastDeliveredId ?? 'none'})`,
    );
  }
}

/** `EventSubscriber.subscribe` was called after `EventSubscriber.close`. */
export class SubscriberClosedError extends Error {
  override name = 'SubscriberClosedError';
  constructor() {
    super('the event subscriber is closed');
  }
}

/** `ChunkCoalescer.push` was called after `ChunkCoalescer.close`. */
export class CoalescerClosedError extends Error {
  override name = 'CoalescerClosedError';
  constructor() {
    super('the chunk coalescer is closed');
  }
}

/**
 * The conversation's log could not be read: the reads kept failing for longer than the subscriber's
 * `readRetryMs` (Redis restarting or unreachable), or failed in a way retrying cannot mend (`cause`).
 * The subscription has ended; resume with a new one `after: lastDeliveredId` once Redis is back.
 */
export class LogReadError extends Error {
  override name = 'LogReadError';
  constructor(
    /** Id of the last event handed to the consumer (`null`: none; resume with the original `after`). */
    readonly lastDeliveredId: string | null,
    /** How many reads failed in a row. */
    readonly attempts: number,
    cause: Error,
  ) {
    super(`the event log could not be read (${attempts} attempts): ${cause.message}`, { cause });
  }
}

/**
 * The subscriber's pub/sub connection ended for good (ioredis stopped reconnecting: its
 * `retryStrategy` gave up). Every subscription ends with it and `subscribe` throws it: no live event
 * can arrive any more. Resume on a process whose subscriber is connected.
 */
export class SubscriberConnectionEndedError extends Error {
  override name = 'SubscriberConnectionEndedError';
  constructor(
    /** Id of the last event handed to the consumer, when thrown to a subscription. */
    readonly lastDeliveredId: string | null = null,
  ) {
    super('the event subscriber connection ended for good (Redis reconnects stopped)');
  }
}
