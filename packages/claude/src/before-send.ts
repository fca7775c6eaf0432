import type { Middleware } from '@anthropic-ai/sdk';
import type { BeforeSend } from './types.ts';

/**
 * Per-request SDK middleware that awaits `beforeSend` right before the request leaves (after the SDK
 * built it, once per HTTP attempt), so a check made there (a rate gate) is as late as it can be. The
 * headers it returns are set on the request as it leaves (they describe that check, so they cannot be
 * given with the request options, which are fixed before it). `waiting` brackets the wait (the stream's
 * idle watchdog does not run meanwhile).
 */
export function beforeSendMiddleware(
  beforeSend: BeforeSend,
  signal: AbortSignal,
  waiting?: { started(): void; ended(): void },
): Middleware {
  return async (request, next) => {
    waiting?.started();
    const added = await beforeSend(signal);
    waiting?.ended();
    if (added?.headers)
      for (const [name, value] of Object.entries(added.headers)) request.headers.set(name, value);
    return next(request);
  };
}
