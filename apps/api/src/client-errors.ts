import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, type ErrorCode } from './errors.ts';

/**
 * Requests rejected before any route runs still answer with the catalog's envelope and an
 * `x-request-id`: Fastify's routing errors (`frameworkErrors`) and Node's HTTP parser errors
 * (`clientError`: header overflow, malformed framing, timeouts).
 */

/** Fastify's routing errors, with what to tell the client. */
const FRAMEWORK_ERRORS: Record<string, { code: ErrorCode; message?: string }> = {
  FST_ERR_BAD_URL: { code: 'bad_request', message: 'The URL path is not valid percent-encoded UTF-8.' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'uri_too_long', message: 'A path segment is too long.' },
};

/** Fastify's `frameworkErrors` option. */
export function frameworkErrorHandler(
  error: { code?: string },
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const known = error.code ? FRAMEWORK_ERRORS[error.code] : undefined;
  const apiError = known
    ? new ApiError(known.code, known.message ? { message: known.message } : {})
    : new ApiError('internal', { details: { requestId: request.id } });
  if (!known) request.log.error({ event: 'http.request_failed', err: error }, 'routing failed');
  void reply.code(apiError.status).header('x-request-id', request.id).send(apiError.toBody());
}

/** What a Node HTTP parser error means for the client. */
export function classifyClientError(err: { code?: string }): ErrorCode {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'headers_too_large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'request_timeout';
    default:
      return 'bad_request';
  }
}

/** The raw HTTP/1.1 response written on the socket for a client error (the connection then closes). */
export function clientErrorResponse(code: ErrorCode, requestId: string): string {
  const error = new ApiError(code);
  const body = JSON.stringify(error.toBody());
  return (
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}

interface LogLike {
  debug(obj: object, msg: string): void;
}

/**
 * Fastify's `clientErrorHandler`: answer in the envelope when nothing was sent on the socket yet
 * (Node's own rule), then close it. A reset connection gets nothing.
 */
export function createClientErrorHandler(log: LogLike) {
  return (err: Error & { code?: string }, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const code = classifyClientError(err);
    const requestId = randomUUID();
    log.debug(
      { event: 'http.client_error_rejected', code, reason: err.code ?? err.name, requestId },
      'client error',
    );
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) socket.write(clientErrorResponse(code, requestId));
    socket.destroy();
  };
}
