/**
 * Error responses in the real API's shape:
 * `{"type":"error","error":{"type","message"[,"details"]},"request_id"}` with the real statuses.
 */

export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** Status the real API answers with for each error type. */
export const STATUS_OF: Record<ApiErrorType, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

/** An error the simulator answers with; thrown by validation, turned into a response by the server. */
export class SimApiError extends Error {
  override readonly name = 'SimApiError';
  readonly status: number;
  readonly type: ApiErrorType;
  readonly errorCode: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    type: ApiErrorType,
    message: string,
    opts: { status?: number; errorCode?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.type = type;
    this.status = opts.status ?? STATUS_OF[type];
    this.errorCode = opts.errorCode;
    this.headers = opts.headers ?? {};
  }
}

/** The JSON body of an error response (also the `data` of an SSE `error` event). */
export function errorBody(
  type: ApiErrorType,
  message: string,
  requestId: string,
  errorCode?: string,
): Record<string, unknown> {
  const error: Record<string, unknown> = { type, message };
  if (errorCode) error.details = { error_code: errorCode };
  return { type: 'error', error, request_id: requestId };
}

/** 400 invalid_request_error with the given message. */
export function invalidRequest(message: string): SimApiError {
  return new SimApiError('invalid_request_error', message);
}
