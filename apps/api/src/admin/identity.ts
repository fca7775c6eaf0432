import type { RedisClient } from '@turnstream/config';
import { type ApiKeyIdentity, type Db, findApiKey, getApiKeyIdentity, getTenant } from '@turnstream/db';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from '../auth.ts';
import { ApiError } from '../errors.ts';
import { readSessionCookie, resolveAdminSession } from './sessions.ts';

/**
 * Who is using the admin area. Admin and viewer keys sign in; client keys never do.
 * `operator`: the key's tenant runs the deployment, so it sees every tenant and the queue dashboard;
 * otherwise it sees its own tenant only (`scopeTenantId`).
 */
export interface AdminIdentity {
  keyId: string;
  prefix: string;
  role: 'admin' | 'viewer';
  tenantId: string;
  operator: boolean;
  /** The tenant this identity is limited to; null for operators (every tenant). */
  scopeTenantId: string | null;
  via: 'bearer' | 'cookie';
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the admin hook on `/admin` routes and `/metrics`; `null` elsewhere. */
    admin: AdminIdentity | null;
  }
}

/** Resolve a key identity to an admin identity, or explain why it cannot use the admin area. */
export async function toAdminIdentity(
  db: Db,
  identity: ApiKeyIdentity,
  via: AdminIdentity['via'],
): Promise<AdminIdentity | ApiError> {
  if (identity.role !== 'admin' && identity.role !== 'viewer') {
    return new ApiError('forbidden', {
      message: 'Only admin and viewer keys can use the admin pages.',
      details: { role: identity.role, required: 'viewer' },
    });
  }
  const tenant = await getTenant(db, identity.tenantId);
  const operator = tenant?.operator ?? false;
  return {
    keyId: identity.keyId,
    prefix: identity.prefix,
    role: identity.role,
    tenantId: identity.tenantId,
    operator,
    scopeTenantId: operator ? null : identity.tenantId,
    via,
  };
}

export interface AdminAuthOptions {
  db: Db;
  redis: RedisClient;
  redisPrefix: string;
}

/** The caller's admin identity from `Authorization: Bearer` or the session cookie; an ApiError otherwise. */
export async function authenticateAdmin(
  request: FastifyRequest,
  opts: AdminAuthOptions,
): Promise<AdminIdentity | ApiError> {
  const key = bearerToken(request.headers.authorization);
  if (key) {
    const identity = await findApiKey(opts.db, key);
    if (!identity) return new ApiError('unauthorized', { message: 'The API key is unknown or revoked.' });
    return toAdminIdentity(opts.db, identity, 'bearer');
  }
  const token = readSessionCookie(request.headers.cookie);
  if (token) {
    const session = await resolveAdminSession(opts.redis, opts.redisPrefix, token);
    const identity = session ? await getApiKeyIdentity(opts.db, session.keyId) : null;
    if (identity) return toAdminIdentity(opts.db, identity, 'cookie');
  }
  return new ApiError('unauthorized', {
    message: 'Sign in at /admin/login, or send "Authorization: Bearer <admin or viewer key>".',
  });
}

/** Whether the request is a browser page load (redirected to the sign-in page instead of a 401). */
export function wantsHtml(request: FastifyRequest): boolean {
  return request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');
}

/**
 * A cookie-authenticated write must come from our own pages: the cookie is SameSite=Strict already, and
 * a present `Origin` must name this host (defence in depth against cross-site forms).
 */
export function crossSiteWrite(request: FastifyRequest, identity: AdminIdentity): boolean {
  if (identity.via !== 'cookie' || request.method === 'GET' || request.method === 'HEAD') return false;
  const origin = request.headers.origin;
  if (!origin || origin === 'null') return origin === 'null';
  try {
    const from = new URL(origin);
    return from.host !== new URL(`${from.protocol}//${request.headers.host ?? ''}`).host;
  } catch {
    return true;
  }
}

/** Send an error from a hook (never thrown: a plugin's own error handler, like the board's, would remap it). */
export function sendError(reply: FastifyReply, err: ApiError): FastifyReply {
  return reply.code(err.status).type('application/json').send(err.toBody());
}

export type AdminPermission = 'view' | 'act' | 'fleet';

/**
 * What an admin identity may do: `view` the admin pages (admin, viewer), `act` on conversations and jobs
 * (admin), see the whole `fleet` (queue dashboard, metrics: keys of the operator tenant).
 */
export function adminRefusal(identity: AdminIdentity, needs: readonly AdminPermission[]): ApiError | null {
  if (needs.includes('fleet') && !identity.operator) {
    return new ApiError('forbidden', {
      message: "Only the operator tenant's admin and viewer keys see the whole fleet.",
      details: { role: identity.role, required: 'operator' },
    });
  }
  if (needs.includes('act') && identity.role !== 'admin') {
    return new ApiError('forbidden', {
      message: 'The "viewer" role is read-only: it cannot retry, remove, clean, reset or cancel.',
      details: { role: identity.role, required: 'admin' },
    });
  }
  return null;
}
