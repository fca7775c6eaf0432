import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import { boardPlugin } from './board.ts';
import type { AdminContext } from './context.ts';
import { adminRefusal, authenticateAdmin, crossSiteWrite, sendError, wantsHtml } from './identity.ts';
import { inspectorRoutes } from './inspector-routes.ts';
import { loginRoutes } from './login.ts';
import { usageRoutes } from './usage-routes.ts';

/**
 * The admin area under `/admin`: sign-in, the queue dashboard, the conversation inspector, usage and
 * the audit trail. Every route but the sign-in page needs an admin or viewer key (Bearer, or the
 * session cookie set by `/admin/login`); anonymous page loads are sent to the sign-in page.
 */
export function adminArea(app: FastifyInstance, ctx: AdminContext): void {
  app.register(async (admin) => {
    admin.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 16 * 1024 },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );
    loginRoutes(admin, ctx);
    admin.get('/admin', async (_request, reply) =>
      reply.code(303).header('location', '/admin/trouble').send(),
    );

    // Prometheus on the main port, for the operator tenant's keys (a scrape job sends one as a bearer
    // token). `METRICS_PORT` opens a separate unauthenticated listener for in-cluster scraping.
    admin.register(async (scrape) => {
      scrape.addHook('onRequest', adminGate(ctx));
      scrape.addHook('onRequest', async (request, reply) => {
        const refused = request.admin && adminRefusal(request.admin, ['fleet']);
        if (refused) return sendError(reply, refused);
      });
      scrape.get('/metrics', async (_request, reply) => {
        const text = await ctx.metrics.registry.metrics();
        return reply.type(ctx.metrics.registry.contentType).send(text);
      });
    });

    admin.register(async (area) => {
      area.addHook('onRequest', adminGate(ctx));
      inspectorRoutes(area, ctx);
      usageRoutes(area, ctx);
      await area.register(async (board) => boardPlugin(board, ctx));
    });
  });
}

/** onRequest hook of the signed-in area: who is calling, or 401 (a redirect to sign in for page loads). */
export function adminGate(ctx: AdminContext) {
  return async function gate(request: FastifyRequest, reply: FastifyReply) {
    const identity = await authenticateAdmin(request, {
      db: ctx.db,
      redis: ctx.redis,
      redisPrefix: ctx.config.redisPrefix,
    });
    if (identity instanceof ApiError) {
      if (identity.code === 'unauthorized' && wantsHtml(request)) {
        const next = encodeURIComponent(request.url);
        return reply.code(303).header('location', `/admin/login?next=${next}`).send();
      }
      return sendError(reply, identity);
    }
    if (crossSiteWrite(request, identity)) {
      return sendError(reply, new ApiError('forbidden', { message: 'Cross-site request refused.' }));
    }
    request.admin = identity;
  };
}
