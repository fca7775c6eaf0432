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
