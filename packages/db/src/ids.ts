import { randomBytes, randomUUID } from 'node:crypto';

/** A new assistant session (transcript) id. Never reused: a cleared one stays a tombstone. */
export function newAssistantSessionId(): string {
  return `asst_${randomBytes(12).toString('base64url')}`;
}

export function newId(): string {
  return randomUUID();
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** true for a syntactically valid UUID (use before querying a uuid column with user input). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}
