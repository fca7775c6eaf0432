import type { RedisClient } from '@turnstream/config';
import { type ApiKeyRole, type Db, findApiKey, isApiKeyActive } from '@turnstream/db';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';
import type { ApiKeyCache } from './key-cache.ts';
import type { KeyUseRecorder } from './keys.ts';
import { resolveStreamToken } from './stream-tokens.ts';

/** Who is calling: resolved from the bearer key on every `/v1` request. */
export interface AuthContext {
  tenantId: string;
  role: ApiKeyRole;
  keyId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on `/v1` routes; `null` elsewhere. */
    auth: AuthContext | null;
  }
}

/**
 * What a role may do:
 * - `read`: conversations, messages, events (every role)
 * - `write`: create conversations, post messages, cancel, reset (client, admin)
 * - `operate`: operator detail such as turn attempts (admin)
 */
export type Permission = 'read' | 'write' | 'operate';

export const ROLE_PERMISSIONS: Record<ApiKeyRole, ReadonlySet<Permission>> = {
  viewer: new Set(['read']),
  client: new Set(['read', 'write']),
  admin: new Set(['read', 'write', 'operate']),
};

export function can(auth: AuthContext, permission: Permission): boolean {
  return ROLE_PERMISSIONS[auth.role].has(permission);
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;
/** Longer strings are not keys; refusing them early avoids hashing arbitrary input. */
const MAX_KEY_LENGTH = 256;

/** The presented key, or null when the header is missing or not a bearer token. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = BEARER.exec(header);
  const key = match?.[1];
  if (!key || key.length > MAX_KEY_LENGTH) return null;
  return key;
}

/** The one route a stream token opens (read-only, its own conversation). */
export const STREAM_TOKEN_ROUTE = '/v1/conversations/:id/events';

/**
 * onRequest hook: resolve the key to a tenant and role (through `keyCache` when given), or answer 401
 * `unauthorized`. Without a key, `GET` of a conversation's events accepts `?token=` (a stream token for
 * that conversation, viewer rights).
 */
export function createAuthHook(
  db: Db,
  streamTokens?: { redis: RedisClient; prefix: string },
  keyUse?: KeyUseRecorder,
  keyCache?: ApiKeyCache,
) {
  const find = (key: string) => findApiKey(db, key);
  return async function authenticate(request: FastifyRequest): Promise<void> {
    const key = bearerToken(request.headers.authorization);
    const token = (request.query as Record<string, unknown> | undefined)?.token;
    if (!key && typeof token === 'string' && streamTokens) {
      const params = request.params as { id?: string } | undefined;
      const grant =
        request.method === 'GET' && request.routeOptions.url === STREAM_TOKEN_ROUTE
          ? await resolveStreamToken(streamTokens.redis, streamTokens.prefix, token)
          : null;
      if (!grant || grant.conversationId !== params?.id || !(await isApiKeyActive(db, grant.keyId))) {
        throw new ApiError('unauthorized', {
          message: 'The stream token is unknown, expired, revoked, or not for this conversation and route.',
        });
      }
      request.auth = { tenantId: grant.tenantId, role: 'viewer', keyId: grant.keyId };
      return;
    }
    if (!key) throw new ApiError('unauthorized');
    const identity = keyCache ? await keyCache.resolve(key, find) : await find(key);
    if (!identity) throw new ApiError('unauthorized', { message: 'The API key is unknown or revoked.' });
    keyUse?.record(identity.keyId);
    request.auth = { tenantId: identity.tenantId, role: identity.role, keyId: identity.keyId };
  };
}

/** The caller's identity, checked for `permission` (403 `forbidden` naming the role otherwise). */
export function requirePermission(request: FastifyRequest, permission: Permission): AuthContext {
  const auth = request.auth;
  if (!auth) throw new ApiError('unauthorized');
  if (!can(auth, permission)) {
    throw new ApiError('forbidden', {
      message: `The "${auth.role}" role cannot ${permission === 'read' ? 'read' : permission === 'write' ? 'create, change or cancel' : 'see operator data'} here.`,
      details: { role: auth.role, required: permission },
    });
  }
  return auth;
}
