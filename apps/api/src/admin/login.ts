import { findApiKey } from '@turnstream/db';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import type { AdminContext } from './context.ts';
import { html, page } from './html.ts';
import { toAdminIdentity } from './identity.ts';
import {
  clearedSessionCookie,
  createAdminSession,
  destroyAdminSession,
  readSessionCookie,
  sessionCookie,
} from './sessions.ts';

/** Only paths inside the admin area are followed after signing in (no open redirect). */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/admin') || next.startsWith('//'))
    return '/admin/trouble';
  if (/[\r\n\\]/.test(next)) return '/admin/trouble';
  return next;
}

function loginPage(next: string, error?: string): string {
  return page(
    'Sign in',
    null,
    html`<div class="card">
      <p>Sign in with an <strong>admin</strong> or <strong>viewer</strong> API key. The key is not stored in
      the browser: a session cookie is (HttpOnly, this site only).</p>
      ${error ? html`<p class="bad" role="alert">${error}</p>` : ''}
      <form method="post" action="/admin/login">
        <input type="hidden" name="next" value="${next}">
        <label>API key <input name="key" type="password" autocomplete="off" size="60" required autofocus></label>
        <button type="submit">Sign in</button>
      </form></div>`,
  );
}

function isSecure(request: FastifyRequest, ctx: AdminContext): boolean {
  return (
    ctx.config.adminCookieSecure ||
    request.protocol === 'https' ||
    request.headers['x-forwarded-proto'] === 'https'
  );
}

/** `GET/POST /admin/login`, `POST /admin/logout`: browser sign-in to a session kept in Redis. */
export function loginRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get('/admin/login', async (request, reply) => {
    const next = safeNext((request.query as Record<string, unknown>).next);
    return reply.type('text/html; charset=utf-8').send(loginPage(next));
  });

  app.post('/admin/login', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const key = typeof body.key === 'string' ? body.key.trim() : '';
    const next = safeNext(body.next);
    const json = !(request.headers['content-type'] ?? '').includes('form-urlencoded');
    const fail = (err: ApiError, text: string) =>
      json
        ? reply.code(err.status).send(err.toBody())
        : reply.code(err.status).type('text/html; charset=utf-8').send(loginPage(next, text));

    const identity = key && key.length <= 256 ? await findApiKey(ctx.db, key) : null;
    if (!identity) {
      request.log.info({ event: 'admin.login_rejected', reason: 'unknown_key' }, 'sign-in refused');
      return fail(
        new ApiError('unauthorized', { message: 'The API key is unknown or revoked.' }),
        'Unknown or revoked key.',
      );
    }
    const admin = await toAdminIdentity(ctx.db, identity, 'cookie');
    if (admin instanceof ApiError) {
      request.log.info(
        { event: 'admin.login_rejected', reason: 'role', role: identity.role },
        'sign-in refused',
      );
      return fail(admin, `A ${identity.role} key cannot sign in: use an admin or viewer key.`);
    }
    const token = await createAdminSession(
      ctx.redis,
      ctx.config.redisPrefix,
      admin.keyId,
      ctx.config.adminSessionTtlMs,
    );
    reply.header(
      'set-cookie',
      sessionCookie(token, { maxAgeMs: ctx.config.adminSessionTtlMs, secure: isSecure(request, ctx) }),
    );
    request.log.info(
      { event: 'admin.login_completed', keyPrefix: admin.prefix, role: admin.role, operator: admin.operator },
      'operator signed in',
    );
    if (json) return reply.send({ role: admin.role, operator: admin.operator, next });
    return reply.code(303).header('location', next).send();
  });

  app.post('/admin/logout', async (request: FastifyRequest, reply: FastifyReply) => {
    const token = readSessionCookie(request.headers.cookie);
    if (token) await destroyAdminSession(ctx.redis, ctx.config.redisPrefix, token);
    reply.header('set-cookie', clearedSessionCookie(isSecure(request, ctx)));
    return reply.code(303).header('location', '/admin/login').send();
  });
}
