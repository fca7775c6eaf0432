import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError, ERROR_CATALOG, type ErrorCode, type ErrorResponse, toErrorResponse } from './errors.ts';

/**
 * The last line of the error catalog: every error response leaves the API with a catalog code, also
 * when a plugin with its own error format answered (the queue dashboard's `{ error: { key } }`, or
 * Fastify's `{ error, message, statusCode }`). Catalog bodies pass untouched; other JSON error bodies get
 * `error.code` (and `error.message`) added, keeping their own fields; HTML error pages get an
 * `x-error-code` header. A status the catalog has no code for becomes its nearest code's status.
 */

/** The catalog code for an HTTP error status. */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
    case 405:
      return 'not_found';
    case 408:
      return 'request_timeout';
    case 413:
      return 'body_too_large';
    case 414:
      return 'uri_too_long';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    case 431:
      return 'headers_too_large';
    case 503:
      return 'not_ready';
    default:
      return status >= 500 ? 'internal' : 'bad_request';
  }
}

function isCatalogCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOG, code);
}

function normalizeJson(reply: FastifyReply, payload: string): string {
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    body = null;
  }
  const error = (body as { error?: unknown } | null)?.error;
  if (error && typeof error === 'object' && isCatalogCode((error as { code?: unknown }).code)) return payload;
  const code = codeForStatus(reply.statusCode);
  reply.code(ERROR_CATALOG[code].status);
  if (error && typeof error === 'object' && !Array.isArray(error)) {
    const own = error as Record<string, unknown>;
    const message = typeof own.message === 'string' ? own.message : ERROR_CATALOG[code].message;
    return JSON.stringify({ ...(body as object), error: { ...own, code, message } });
  }
  const message =
    typeof (body as { message?: unknown } | null)?.message === 'string'
      ? String((body as { message: string }).message)
      : undefined;
  return JSON.stringify(new ApiError(code, message ? { message } : {}).toBody());
}

declare module 'fastify' {
  interface FastifyRequest {
    /** A rejection raised while serving this request, as the catalog answers it (see below). */
    catalogRejection: ErrorResponse | null;
  }
}

export function enforceErrorEnvelope(app: FastifyInstance, opts: { bodyLimit: number }): void {
  app.decorateRequest('catalogRejection', null);
  // A plugin's own error handler may answer our rejections its own way (the queue dashboard turns
  // every error into a 500): remember what the catalog says, and answer that.
  app.addHook('onError', async (request, _reply, error) => {
    const res = toErrorResponse(error, { bodyLimit: opts.bodyLimit, requestId: request.id });
    if (!res.unexpected) request.catalogRejection = res;
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const rejection = request.catalogRejection;
    if (
      rejection &&
      reply.statusCode !== rejection.status &&
      String(reply.getHeader('content-type')).includes('json')
    ) {
      reply.code(rejection.status);
      return JSON.stringify(rejection.body);
    }
    if (reply.statusCode < 400) return payload;
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html')) {
      if (!reply.hasHeader('x-error-code')) reply.header('x-error-code', codeForStatus(reply.statusCode));
      return payload;
    }
    if (typeof payload !== 'string' || !type.includes('json')) return payload;
    return normalizeJson(reply, payload);
  });
}
