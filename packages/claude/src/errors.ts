import { APIError } from '@anthropic-ai/sdk';

/** No SSE event (or no response) arrived for longer than the idle limit; the request was aborted. */
export class ClaudeStreamIdleError extends Error {
  override readonly name = 'ClaudeStreamIdleError';
  readonly idleMs: number;

  constructor(idleMs: number, options?: { cause?: unknown }) {
    super(`Claude stream idle for ${idleMs}ms; aborted`, options);
    this.idleMs = idleMs;
  }
}

/** The stream ended (or the connection broke) before `message_stop`. */
export class ClaudeStreamIncompleteError extends Error {
  override readonly name = 'ClaudeStreamIncompleteError';
  /** Type of the last event received, if any. */
  readonly lastEvent: string | null;

  constructor(lastEvent: string | null, options?: { cause?: unknown }) {
    super(`Claude stream ended before message_stop (last event: ${lastEvent ?? 'none'})`, options);
    this.lastEvent = lastEvent;
  }
}

/** The stored transcript of an assistant session cannot be loaded (missing, cleared, unreadable). */
export class TranscriptUnavailableError extends Error {
  override readonly name = 'TranscriptUnavailableError';
  readonly transcriptId: string | null;

  constructor(message: string, options?: { cause?: unknown; transcriptId?: string | null }) {
    super(message, options);
    this.transcriptId = options?.transcriptId ?? null;
  }
}

/** The API's `request-id` of a call that failed with an API error (a 429, a 5xx), for logs. */
export function claudeRequestIdOf(err: unknown): string | null {
  return err instanceof APIError ? (err.requestID ?? null) : null;
}
