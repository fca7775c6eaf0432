/**
 * The API's error catalog: every error response is `{ error: { code, message, details? } }` with a
 * stable `code` from this table (documented in apps/api/README.md). Handlers throw {@link ApiError};
 * Fastify's own errors are mapped by {@link toErrorResponse}.
 */
export const ERROR_CATALOG = {
  validation_failed: { status: 400, message: 'The request is invalid.' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  bad_request: { status: 400, message: 'The request could not be read.' },
  unauthorized: {
    status: 401,
    message: 'A valid API key is required: send "Authorization: Bearer <key>".',
  },
  forbidden: { status: 403, message: "This API key's role does not allow this action." },
  not_found: { status: 404, message: 'No such route.' },
  conversation_not_found: { status: 404, message: 'No such conversation.' },
  message_not_found: { status: 404, message: 'No such message in this conversation.' },
  webhook_not_found: { status: 404, message: 'No such webhook endpoint.' },
  external_id_conflict: {
    status: 409,
    message: 'A conversation with this externalId already exists.',
  },
  idempotency_key_conflict: {
    status: 409,
    message: 'This idempotency key was already used for another message.',
  },
  message_not_cancellable: { status: 409, message: 'The turn of this message has already ended.' },
  message_not_retryable: { status: 409, message: 'Only a failed turn can be retried.' },
  reset_conflict: {
    status: 409,
    message: 'Another reset of this conversation is in progress; nothing was changed. Retry if needed.',
  },
  request_timeout: { status: 408, message: 'The request was not received in time.' },
  body_too_large: { status: 413, message: 'The request body is too large.' },
  uri_too_long: { status: 414, message: 'The URL, or one of its path segments, is too long.' },
  unsupported_media_type: {
    status: 415,
    message: 'Unsupported Content-Type: send the body as application/json.',
  },
  rate_limited: {
    status: 429,
    message: "The tenant's message limit is reached; retry after the number of seconds in Retry-After.",
  },
  webhook_target_refused: {
    status: 422,
    message: 'The webhook URL points at a loopback, private or reserved address.',
  },
  callback_url_not_registered: {
    status: 422,
    message: "The callbackUrl is not on the origin of any of the tenant's webhook endpoints.",
  },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  internal: { status: 500, message: 'Internal error. It has been logged; retrying may help.' },
  enqueue_failed: {
    status: 503,
    message:
      'The message was stored but could not be queued. It stays pending and is queued again automatically; ' +
      'you may also retry the same request with the same message id.',
  },
  database_unavailable: {
    status: 503,
    message:
      'The database connection was lost while serving this request; nothing was changed. Retry after the number of seconds in Retry-After.',
  },
  stream_unavailable: {
    status: 503,
    message:
      "The conversation's events cannot be read from Redis on this replica; reconnect with Last-Event-ID.",
  },
  not_ready: { status: 503, message: 'The service is not ready.' },
  not_live: {
    status: 503,
    message: 'This process cannot recover by itself (a Redis connection stopped reconnecting); restart it.',
  },
  shutting_down: { status: 503, message: 'The server is shutting down; retry on another replica.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/** An error with a catalog code. `message` defaults to the catalog's; `details` is sent to the client. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    opts: { message?: string; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(
      opts.message ?? ERROR_CATALOG[code].message,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.details = opts.details;
  }

  toBody(): ErrorBody {
    return {
      error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) },
    };
  }
}

/** Fastify error codes mapped onto the catalog. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_NOT_FOUND: 'not_found',
};

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  /** Seconds for a `Retry-After` header, when the client should retry. */
  retryAfterSeconds?: number;
  /** true when the error is ours to fix (5xx from an unexpected error): log it. */
  unexpected: boolean;
}

/**
 * Map anything thrown while serving a request to a catalog response. Unknown errors become
 * `internal` with a generic message: their text, stack and cause are never sent.
 */
export function toErrorResponse(
  err: unknown,
  ctx: { bodyLimit?: number; requestId?: string } = {},
): ErrorResponse {
  if (err instanceof ApiError) return { status: err.status, body: err.toBody(), unexpected: false };
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown } | null;
  const fastifyCode = typeof e?.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
  if (fastifyCode) {
    const details =
      fastifyCode === 'body_too_large' && ctx.bodyLimit !== undefined
        ? { limitBytes: ctx.bodyLimit }
        : undefined;
    const apiError = new ApiError(fastifyCode, details ? { details } : {});
    return { status: apiError.status, body: apiError.toBody(), unexpected: false };
  }
  // Other client errors raised by Fastify itself (malformed URL, bad Content-Length...): their messages are safe.
  if (
    typeof e?.code === 'string' &&
    e.code.startsWith('FST_') &&
    typeof e.statusCode === 'number' &&
    e.statusCode >= 400 &&
    e.statusCode < 500
  ) {
    const message =
      typeof e.message === 'string' && e.message ? e.message : ERROR_CATALOG.bad_request.message;
    const apiError = new ApiError('bad_request', { message });
    return { status: apiError.status, body: apiError.toBody(), unexpected: false };
  }
  if (isDatabaseConnectionLoss(err)) {
    const apiError = new ApiError('database_unavailable');
    return { status: apiError.status, body: apiError.toBody(), unexpected: false, retryAfterSeconds: 1 };
  }
  const apiError = new ApiError('internal', ctx.requestId ? { details: { requestId: ctx.requestId } } : {});
  return { status: apiError.status, body: apiError.toBody(), unexpected: true };
}

/**
 * postgres.js codes of a connection that closed under the process or never opened, and the server's
 * SQLSTATEs for a backend that was terminated or cannot take connections (`57P01`-`57P03`) or a
 * connection exception (class `08`). A statement cut off this way committed nothing (its transaction is
 * rolled back). Not `CONNECTION_ENDED`: a pool the process ended itself is its own bug (500 `internal`).
 */
const CONNECTION_LOSS_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01',
  '57P02',
  '57P03',
]);

/** Whether `err` (or an error it wraps, as drizzle's query errors do) is a lost database connection. */
export function isDatabaseConnectionLoss(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_LOSS_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
