import type { Middleware } from '@anthropic-ai/sdk';

/**
 * Per-request SDK middleware that awaits `beforeSend` right before the request leaves (after the SDK
 * built it, once per HTTP attempt), so a check made there (a rate gate) is as late as it can be.
 * `waiting` brackets the wait (the stream's idle watchdog does not run meanwhile).
 */
export function beforeSendMiddleware(
  beforeSend: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
  waiting?: { started(): void; ended(): void },
): Middleware {
  return async (request, next) => {
    waiting?.started();
    await beforeSend(signal);
    waiting?.ended();
    return next(request);
  };
}
