/**
 * Suggested waits. Classification returns data, so these are deterministic: the caller adds jitter
 * (and owns the attempt count, passed in as `attempt`, 0 for the first retry).
 */

const MAX_BACKOFF_MS = 60_000;

/** Base wait per transient cause, doubled per attempt up to a minute. */
export const BACKOFF_BASE_MS = {
  overloaded: 2_000,
  server_error: 1_000,
  connection: 500,
  timeout: 1_000,
  stream_idle: 1_000,
  stream_incomplete: 500,
  midstream_error: 2_000,
} as const;

export type TransientReason = keyof typeof BACKOFF_BASE_MS;

/** Wait before a 429 retry when the response says nothing (no `retry-after*` header, or a midstream event). */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 10_000;

export function exponentialBackoff(reason: TransientReason, attempt = 0): number {
  const exponent = Math.max(0, Math.min(Math.floor(attempt), 16));
  return Math.min(BACKOFF_BASE_MS[reason] * 2 ** exponent, MAX_BACKOFF_MS);
}

/**
 * The wait a response asks for, in ms: `retry-after-ms`, else `retry-after` (seconds or an HTTP date).
 * Null when absent or unusable.
 */
export function retryAfterFromHeaders(headers: Headers | undefined | null, now = Date.now()): number | null {
  if (!headers) return null;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms);
  const raw = headers.get('retry-after');
  if (!raw) return null;
  const seconds = Number.parseFloat(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(raw);
  if (Number.isFinite(date)) return Math.max(0, date - now);
  return null;
}

/** The limits Anthropic reports per response (`anthropic-ratelimit-<limit>-{remaining,reset}`). */
const RATE_LIMITS = ['requests', 'tokens', 'input-tokens', 'output-tokens'] as const;

/**
 * The wait until the limits that ran out are replenished, from the `anthropic-ratelimit-*-reset`
 * headers (RFC 3339 times): the latest reset among the limits whose `-remaining` is 0, or among all
 * of them when no `-remaining` says which. Null when there is no usable reset header.
 */
export function rateLimitResetFromHeaders(
  headers: Headers | undefined | null,
  now = Date.now(),
): number | null {
  if (!headers) return null;
  const resets = RATE_LIMITS.map((limit) => ({
    at: Date.parse(headers.get(`anthropic-ratelimit-${limit}-reset`) ?? ''),
    exhausted: headers.get(`anthropic-ratelimit-${limit}-remaining`) === '0',
  })).filter((r) => Number.isFinite(r.at));
  if (resets.length === 0) return null;
  const exhausted = resets.filter((r) => r.exhausted);
  const latest = Math.max(...(exhausted.length ? exhausted : resets).map((r) => r.at));
  return Math.max(0, Math.ceil(latest - now));
}

/**
 * How long a 429 asks every caller with this API key to wait: `retry-after-ms` / `retry-after` when
 * present, else the `anthropic-ratelimit-*-reset` headers, else {@link DEFAULT_RATE_LIMIT_WAIT_MS}.
 */
export function rateLimitWaitFromHeaders(headers: Headers | undefined | null, now = Date.now()): number {
  return (
    retryAfterFromHeaders(headers, now) ??
    rateLimitResetFromHeaders(headers, now) ??
    DEFAULT_RATE_LIMIT_WAIT_MS
  );
}
