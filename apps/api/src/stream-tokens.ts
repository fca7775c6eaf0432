import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '@turnstream/config';

/**
 * Stream tokens let clients that cannot send an `Authorization` header (the browser's `EventSource`)
 * follow one conversation's events: `?token=` on the events URL. A token is read-only, bound to one
 * conversation, short-lived, and stored (hashed) in Redis, so every API replica accepts it.
 */
export interface StreamTokenGrant {
  tenantId: string;
  conversationId: string;
  /** The API key that asked for it. */
  keyId: string;
}

/** Lifetime of a stream token in seconds (an `EventSource` reconnecting later needs a new one). */
export const STREAM_TOKEN_TTL_SECONDS = 3600;

const TOKEN_RE = /^sst_[A-Za-z0-9_-]{32}$/;

function tokenKey(prefix: string, token: string): string {
  return `${prefix}:stream-token:${createHash('sha256').update(token).digest('hex')}`;
}

export async function issueStreamToken(
  redis: RedisClient,
  prefix: string,
  grant: StreamTokenGrant,
  ttlSeconds = STREAM_TOKEN_TTL_SECONDS,
): Promise<{ token: string; expiresAt: Date }> {
  const token = `sst_${randomBytes(24).toString('base64url')}`;
  await redis.set(tokenKey(prefix, token), JSON.stringify(grant), 'EX', ttlSeconds);
  return { token, expiresAt: new Date(Date.now() + ttlSeconds * 1000) };
}

/** The grant of a presented token, or null when it is malformed, unknown or expired. */
export async function resolveStreamToken(
  redis: RedisClient,
  prefix: string,
  token: string,
): Promise<StreamTokenGrant | null> {
  if (!TOKEN_RE.test(token)) return null;
  const raw = await redis.get(tokenKey(prefix, token));
  return raw ? (JSON.parse(raw) as StreamTokenGrant) : null;
}
