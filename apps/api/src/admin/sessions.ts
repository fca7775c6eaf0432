import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '@turnstream/config';

/** Name of the admin session cookie. */
export const ADMIN_COOKIE = 'ts_admin';
/** The cookie is sent to the admin area only. */
export const ADMIN_COOKIE_PATH = '/admin';

interface StoredSession {
  keyId: string;
  createdAt: number;
}

const sessionKey = (prefix: string, token: string) =>
  `${prefix}:admin-session:${createHash('sha256').update(token).digest('hex')}`;

/**
 * Open a browser session for a key. Kept hashed in Redis (any API replica accepts it) for `ttlMs`;
 * it holds only the key id, so revoking the key or changing its role takes effect on the next request.
 */
export async function createAdminSession(
  redis: RedisClient,
  prefix: string,
  keyId: string,
  ttlMs: number,
): Promise<string> {
  const token = `tsa_${randomBytes(32).toString('base64url')}`;
  const value: StoredSession = { keyId, createdAt: Date.now() };
  await redis.set(sessionKey(prefix, token), JSON.stringify(value), 'PX', ttlMs);
  return token;
}

export async function resolveAdminSession(
  redis: RedisClient,
  prefix: string,
  token: string,
): Promise<StoredSession | null> {
  if (!/^tsa_[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const raw = await redis.get(sessionKey(prefix, token));
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as StoredSession;
    return typeof parsed.keyId === 'string' ? parsed : null;
  } catch {
    return null;
  }
}

export async function destroyAdminSession(redis: RedisClient, prefix: string, token: string): Promise<void> {
  await redis.del(sessionKey(prefix, token));
}

/** The session token from a `Cookie` header, if any. */
export function readSessionCookie(header: string | undefined): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === ADMIN_COOKIE) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

/** `Set-Cookie` value: HttpOnly, SameSite=Strict, limited to the admin area; Secure over HTTPS. */
export function sessionCookie(token: string, opts: { maxAgeMs: number; secure: boolean }): string {
  const attrs = [
    `${ADMIN_COOKIE}=${token}`,
    `Path=${ADMIN_COOKIE_PATH}`,
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.floor(opts.maxAgeMs / 1000)}`,
  ];
  if (opts.secure) attrs.push('Secure');
  return attrs.join('; ');
}

/** `Set-Cookie` value that removes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return `${ADMIN_COOKIE}=; Path=${ADMIN_COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}
