import {
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  tracer,
} from '@turnstream/telemetry';
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's server span (a no-op span while tracing is off). */
    span: Span | null;
  }
}

/**
 * One server span per request (continuing an incoming `traceparent`), named by route pattern, ended
 * with the status code. The request's log lines carry its trace id.
 */
export function traceRequests(app: FastifyInstance): void {
  app.decorateRequest('span', null);
  app.addHook('onRequest', async (request) => {
    const parent = propagation.extract(context.active(), request.headers);
    const route = request.routeOptions.url ?? 'not_found';
    const span = tracer().startSpan(
      `${request.method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'http.route': route } },
      parent,
    );
    request.span = span;
    const ids = span.spanContext();
    if (trace.isSpanContextValid(ids)) request.log = request.log.child({ traceId: ids.traceId });
  });
  app.addHook('onResponse', async (request, reply) => {
    const span = request.span;
    if (!span) return;
    span.setAttribute('http.response.status_code', reply.statusCode);
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
}

/** Run `fn` with the request's span active (enqueue: BullMQ's producer span and the job's trace context). */
export function inRequestSpan<T>(request: FastifyRequest, fn: () => Promise<T>): Promise<T> {
  if (!request.span) return fn();
  return context.with(trace.setSpan(context.active(), request.span), fn);
}
