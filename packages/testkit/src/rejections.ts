/**
 * Rejections nobody handled, recorded while a test runs: Node ends a process on one, so a test of
 * fault handling checks that none happened (`stop()` when done).
 */
export interface UnhandledRejections {
  /** The reasons, in order. */
  readonly reasons: unknown[];
  stop(): void;
}

/** Start recording unhandled rejections of this process. */
export function recordUnhandledRejections(): UnhandledRejections {
  const reasons: unknown[] = [];
  const record = (reason: unknown) => reasons.push(reason);
  process.on('unhandledRejection', record);
  return { reasons, stop: () => process.off('unhandledRejection', record) };
}
