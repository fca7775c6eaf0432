import { randomUUID } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import { isCluster } from '@turnstream/config';
import { registerQueueDepth } from '@turnstream/telemetry';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { adminArea } from './admin/index.ts';
import { registerTroubleGauge } from './admin/trouble.ts';
import { createAuthHook } from './auth.ts';
import { createClientErrorHandler, frameworkErrorHandler } from './client-errors.ts';
import { type AppConfig, type AppDeps, DEFAULT_APP_CONFIG, type RouteContext } from './context.ts';
import { enforceErrorEnvelope } from './error-envelope.ts';
import { ApiError, toErrorResponse } from './errors.ts';
import { ApiKeyCache } from './key-cache.ts';
import { KeyRevocationWatcher } from './key-revocation.ts';
import { KeyUseRecorder } from './keys.ts';
import { createApiMetrics } from './metrics.ts';
import { registerOpenApi } from './openapi/index.ts';
import { registerPlayground } from './playground.ts';
import { malformedQueryParameter } from './query-encoding.ts';
import { cancelRoutes } from './routes/cancel.ts';
import { conversationRoutes } from './routes/conversations.ts';
import { eventRoutes } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { messageRoutes } from './routes/messages.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { SseRegistry } from './sse.ts';
import { TenantLimits } from './tenant-limits.ts';
import { traceRequests } from './tracing.ts';
import { validationError } from './validation.ts';

const PROBE_ROUTES = new Set(['/healthz', '/readyz']);
/** The API's version, as the OpenAPI document states it. */
export const API_VERSION = '0.1.0';

function malformedQuery(url: string): ApiError | null {
  const parameter = malformedQueryParameter(url);
  if (parameter === null) return null;
  return validationError([
    { location: 'query', field: parameter, message: 'is not valid percent-encoded UTF-8' },
  ]);
}

/**
 * Build the HTTP API (not listening). The caller owns every connection in `deps` and closes them
 * after `app.close()`; closing the app ends open SSE streams with a final comment first.
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const config: AppConfig = { ...DEFAULT_APP_CONFIG, ...deps.config };
  const metrics = deps.metrics ?? createApiMetrics();
  const boardQueues = deps.boardQueues ?? [deps.queue, deps.intakeQueue];
  if (!metrics.registry.getSingleMetric('turnstream_queue_jobs'))
    registerQueueDepth(metrics.registry, boardQueues);
  const sse = new SseRegistry();
  const ctx: RouteContext = {
    db: deps.db,
    redis: deps.redis,
    queue: deps.queue,
    intakeQueue: deps.intakeQueue,
    webhookQueue: deps.webhookQueue,
    streams: deps.streams,
    subscriber: deps.subscriber,
    logger: deps.logger,
    config,
    metrics,
    sse,
    tenantLimits: new TenantLimits(deps.db, { messagesPerMinute: config.tenantMessagesPerMinute }),
  };

  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Requests are logged once, on completion, by the onResponse hook below: method, route, status,
    // duration. Never headers (Authorization) or bodies (message content).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    // Requests arriving while closing get the catalog's `shutting_down` (see the onRequest hook).
    return503OnClosing: false,
    genReqId: () => randomUUID(),
    // Errors before routing (bad URL encoding, over-long path segments) and from Node's HTTP parser
    // (header overflow, malformed framing, timeouts) answer in the catalog's envelope too.
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler: createClientErrorHandler(deps.logger),
  });
  let closing = false;

  app.decorateRequest('auth', null);
  app.decorateRequest('admin', null);
  traceRequests(app);

  // JSON bodies only: anything else is 415 `unsupported_media_type`. An empty JSON body counts as no
  // body. Bytes that are not UTF-8 are `invalid_json` (never silently replaced by U+FFFD).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = typeof body === 'string' ? body : utf8.decode(body);
    } catch {
      done(new ApiError('invalid_json', { message: 'The request body is not valid UTF-8.' }));
      return;
    }
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    parseJson(request, text, done);
  });

  enforceErrorEnvelope(app, { bodyLimit: config.bodyLimitBytes });

  // Answered here rather than thrown: every route gets these rejections in the catalog's envelope,
  // also in plugins that install their own error handler (the queue dashboard).
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const rejection = closing ? new ApiError('shutting_down') : malformedQuery(request.url);
    if (rejection) return reply.code(rejection.status).send(rejection.toBody());
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'not_found';
    metrics.requestCompleted(request.method, route, reply.statusCode, reply.elapsedTime);
    const fields = {
      event: 'http.request_completed',
      method: request.method,
      route,
      statusCode: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime),
    };
    if (PROBE_ROUTES.has(route)) request.log.debug(fields, 'request completed');
    else request.log.info(fields, 'request completed');
  });

  app.setErrorHandler((err, request, reply) => {
    const res = toErrorResponse(err, { bodyLimit: config.bodyLimitBytes, requestId: request.id });
    if (res.unexpected) {
      request.log.error({ event: 'http.request_failed', err }, 'request failed');
    } else if (res.status >= 500) {
      request.log.warn(
        { event: 'http.request_unavailable', code: res.body.error.code },
        'request unavailable',
      );
    } else {
      request.log.debug({ event: 'http.request_rejected', code: res.body.error.code }, 'request rejected');
    }
    if (res.retryAfterSeconds !== undefined) reply.header('retry-after', String(res.retryAfterSeconds));
    return reply.code(res.status).send(res.body);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const err = new ApiError('not_found', { message: `No route ${request.method} ${path}.` });
    return reply.code(err.status).send(err.toBody());
  });

  app.addHook('preClose', async () => {
    closing = true;
    await sse.closeAll();
  });

  // On a Cluster the notice channel's subscriber can move to another node without its connection
  // closing (a notice could be missed unseen): keys are read from the database on every request there.
  const keyCache = isCluster(deps.redis) ? undefined : new ApiKeyCache(config.keyRevocationSweepMs);
  const revocations = new KeyRevocationWatcher({
    db: deps.db,
    redis: deps.redis,
    prefix: config.redisPrefix,
    sse,
    logger: deps.logger,
    sweepMs: config.keyRevocationSweepMs,
    ...(keyCache ? { keyCache } : {}),
  });
  app.addHook('onReady', () => revocations.start());
  app.addHook('onClose', () => revocations.close());
  const keyUse = new KeyUseRecorder(deps.redis, config.redisPrefix);

  registerOpenApi(app, { version: API_VERSION });
  // Inside a plugin so that they load after the OpenAPI plugin and are documented.
  app.register(async (scope) => healthRoutes(scope, ctx));
  if (config.playground) registerPlayground(app, config.playground, deps.logger);
  app.register(async (v1) => {
    v1.addHook(
      'onRequest',
      createAuthHook(deps.db, { redis: deps.redis, prefix: config.redisPrefix }, keyUse, keyCache),
    );
    // Counters in Redis, shared by every replica; routes opt in (see messageRoutes).
    await v1.register(rateLimit, {
      global: false,
      redis: deps.redis,
      nameSpace: `${config.redisPrefix}:rate-limit:`,
      // Redis unavailable: let the request through (its own Redis work then fails in the catalog's way).
      skipOnError: true,
    });
    conversationRoutes(v1, ctx);
    messageRoutes(v1, ctx);
    cancelRoutes(v1, ctx);
    sessionRoutes(v1, ctx);
    eventRoutes(v1, ctx);
    webhookRoutes(v1, ctx);
  });
  const adminCtx = { ...ctx, boardQueues };
  if (!metrics.registry.getSingleMetric('turnstream_trouble_conversations'))
    registerTroubleGauge(metrics.registry, adminCtx);
  adminArea(app, adminCtx);

  return app;
}
