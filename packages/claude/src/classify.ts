import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from '@anthropic-ai/sdk';
import {
  DEFAULT_RATE_LIMIT_WAIT_MS,
  exponentialBackoff,
  rateLimitWaitFromHeaders,
  retryAfterFromHeaders,
  type TransientReason,
} from './backoff.ts';
import { ClaudeStreamIdleError, ClaudeStreamIncompleteError, TranscriptUnavailableError } from './errors.ts';
import { sessionInvalidReason } from './transcript-errors.ts';

/**
 * What to do about a failed Claude call. Callers switch on `kind` exhaustively:
 * - `session_invalid`: the transcript itself is what the API rejects (retrying it loops forever):
 *   clear the session, rebuild the transcript from visible history, retry once.
 * - `rate_limited`: wait `retryAfterMs` (fleet-wide), then retry; not a failed attempt.
 * - `transient`: retry after `backoffMs` (add jitter).
 * - `fatal`: fail the turn now; `code` is stable, `message` readable.
 * - `cancelled`: the caller aborted.
 */
export type ClaudeErrorClass =
  | { kind: 'session_invalid'; reason: string }
  | { kind: 'rate_limited'; retryAfterMs: number }
  | { kind: 'transient'; backoffMs: number; reason: string }
  | { kind: 'fatal'; code: string; message: string }
  | { kind: 'cancelled' };

/** Stable `fatal.code` values. */
export const FATAL_CODES = {
  auth: 'claude_auth',
  permission: 'claude_permission',
  billing: 'claude_billing',
  invalidRequest: 'claude_invalid_request',
  notFound: 'claude_not_found',
  serverRefused: 'claude_server_error',
  unknown: 'claude_unknown',
} as const;

export interface ClassifyOptions {
  /** The caller's signal: when aborted, the error is `cancelled` whatever it is. */
  signal?: AbortSignal;
  /** Retries already made for this turn (0-based), to scale the suggested backoff. Default 0. */
  attempt?: number;
}

/** 429 error codes that are billing limits, not rate limits: waiting does not help. */
const BILLING_429_CODES = new Set(['enforced_spend_limit_reached', 'contract_spend_limit_reached']);
/** 4xx error codes that clear up by themselves. */
const TRANSIENT_CODES = new Set(['thread_continue_in_flight', 'compaction_unavailable']);

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Maps anything a Claude call threw to what to do about it. Never throws. */
export function classifyClaudeError(err: unknown, opts: ClassifyOptions = {}): ClaudeErrorClass {
  const attempt = opts.attempt ?? 0;
  const transient = (reason: TransientReason, backoffMs = exponentialBackoff(reason, attempt)) =>
    ({ kind: 'transient', backoffMs, reason }) as const;

  if (opts.signal?.aborted || err instanceof APIUserAbortError || isAbortError(err))
    return { kind: 'cancelled' };
  if (err instanceof TranscriptUnavailableError)
    return { kind: 'session_invalid', reason: 'transcript_unavailable' };
  if (err instanceof ClaudeStreamIdleError) return transient('stream_idle');
  if (err instanceof ClaudeStreamIncompleteError) return transient('stream_incomplete');
  if (err instanceof APIConnectionTimeoutError) return transient('timeout');
  if (err instanceof APIConnectionError) return transient('connection');
  if (err instanceof APIError) return classifyApiError(err, attempt);
  if (isNetworkError(err)) return transient('connection');
  return { kind: 'fatal', code: FATAL_CODES.unknown, message: messageOf(err) };
}

function classifyApiError(err: APIError, attempt: number): ClaudeErrorClass {
  const status = err.status;
  const code = err.errorCode;
  const message = err.apiMessage ?? err.message;
  const shouldRetry = err.headers?.get('x-should-retry') ?? null;

  // An SSE `error` event mid-stream: the SDK throws a plain APIError without a status.
  if (status === undefined) return classifyByType(err, attempt);

  const invalid = sessionInvalidReason(status, err.type, code, message);
  if (invalid) return { kind: 'session_invalid', reason: invalid };
  if (code && TRANSIENT_CODES.has(code)) {
    return { kind: 'transient', backoffMs: exponentialBackoff('server_error', attempt), reason: code };
  }
  if (status === 429) {
    if (code && BILLING_429_CODES.has(code)) return { kind: 'fatal', code: FATAL_CODES.billing, message };
    return {
      kind: 'rate_limited',
      retryAfterMs: rateLimitWaitFromHeaders(err.headers),
    };
  }
  if (status >= 500 || status === 408 || status === 409) {
    if (shouldRetry === 'false') return { kind: 'fatal', code: FATAL_CODES.serverRefused, message };
    const reason: TransientReason =
      status === 529 ? 'overloaded' : status === 408 ? 'timeout' : 'server_error';
    const asked = retryAfterFromHeaders(err.headers);
    const backoffMs = Math.max(asked ?? 0, exponentialBackoff(reason, attempt));
    return { kind: 'transient', backoffMs, reason: status === 529 ? 'overloaded' : `http_${status}` };
  }
  if (status === 401) return { kind: 'fatal', code: FATAL_CODES.auth, message };
  if (status === 402) return { kind: 'fatal', code: FATAL_CODES.billing, message };
  if (status === 403) return { kind: 'fatal', code: FATAL_CODES.permission, message };
  if (status === 404) return { kind: 'fatal', code: FATAL_CODES.notFound, message };
  if (shouldRetry === 'true') {
    return {
      kind: 'transient',
      backoffMs: exponentialBackoff('server_error', attempt),
      reason: `http_${status}`,
    };
  }
  return { kind: 'fatal', code: FATAL_CODES.invalidRequest, message };
}

function classifyByType(err: APIError, attempt: number): ClaudeErrorClass {
  const message = err.apiMessage ?? err.message;
  switch (err.type) {
    case 'rate_limit_error':
      return { kind: 'rate_limited', retryAfterMs: DEFAULT_RATE_LIMIT_WAIT_MS };
    case 'authentication_error':
      return { kind: 'fatal', code: FATAL_CODES.auth, message };
    case 'permission_error':
      return { kind: 'fatal', code: FATAL_CODES.permission, message };
    case 'billing_error':
      return { kind: 'fatal', code: FATAL_CODES.billing, message };
    case 'not_found_error':
      return { kind: 'fatal', code: FATAL_CODES.notFound, message };
    case 'invalid_request_error': {
      const invalid = sessionInvalidReason(400, err.type, err.errorCode, message);
      if (invalid) return { kind: 'session_invalid', reason: invalid };
      return { kind: 'fatal', code: FATAL_CODES.invalidRequest, message };
    }
    default:
      // overloaded_error, api_error, timeout_error, or an event we cannot read: the stream broke.
      return {
        kind: 'transient',
        backoffMs: exponentialBackoff('midstream_error', attempt),
        reason: 'midstream_error',
      };
  }
}

function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

/** A socket-level failure (connection reset, undici's "terminated"), possibly wrapped in `cause`s. */
function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (typeof e !== 'object') return false;
    const { code, name, message } = e as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (name === 'SocketError') return true;
    if (name === 'TypeError' && (message === 'terminated' || message === 'fetch failed')) return true;
  }
  return false;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : 'unknown error';
}
