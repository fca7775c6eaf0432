import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { errorText } from './messages.ts';

/** How long one readiness check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 2000;

type CheckResult = 'ok' | 'failed';

async function check(run: () => Promise<unknown>): Promise<{ result: CheckResult; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([run(), timeout]);
    return { result: 'ok' };
  } catch (err) {
    return { result: 'failed', error: errorText(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `/healthz` (liveness): the process is up and can recover by itself; 503 `not_live` once the event
 * subscriber's Redis connection ended for good (only a restart brings event streams back). `/readyz`: Postgres and Redis answer (503 `not_ready` naming which did
 * not); Redis counts as failed too when the event subscriber's connection ended for good (no event
 * stream can be served here any more).
 */
export function healthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/healthz', async (request) => {
    const reason = notLiveReason(ctx);
    if (reason === null) return { status: 'ok' };
    request.log.error({ event: 'health.live_failed', reason }, 'not live');
    throw new ApiError('not_live', { details: { reason } });
  });

  app.get('/readyz', async (request) => {
    const [postgres, redis] = await Promise.all([
      check(() => ctx.db.execute('select 1')),
      check(() => redisReady(ctx)),
    ]);
    const checks = { postgres: postgres.result, redis: redis.result };
    const failed = Object.entries(checks)
      .filter(([, r]) => r === 'failed')
      .map(([name]) => name);
    if (failed.length > 0) {
      request.log.warn(
        { event: 'health.ready_failed', failed, postgres: postgres.error, redis: redis.error },
        'not ready',
      );
      throw new ApiError('not_ready', {
        message: `Not ready: ${failed.join(' and ')} unavailable.`,
        details: { checks },
      });
    }
    return { status: 'ready', checks };
  });
}

/** Why this API process must be restarted, or null: its event subscriber's Redis connection ended for good. */
export function notLiveReason(ctx: Pick<RouteContext, 'subscriber'>): string | null {
  const failure = ctx.subscriber.failure;
  return failure ? `event subscriber: ${failure.message}` : null;
}

/**
 * The command connection answers PING, and the event subscriber's pub/sub connection has not ended
 * (`/readyz` here, and the `redis` check of the `METRICS_PORT` listener).
 */
export async function redisReady(ctx: Pick<RouteContext, 'redis' | 'subscriber'>): Promise<void> {
  const failure = ctx.subscriber.failure;
  if (failure) throw failure;
  await ctx.redis.ping();
}
