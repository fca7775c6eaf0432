import { createHash } from 'node:crypto';

/**
 * Message ids handed in by other services are scoped to their tenant. A producer names a message with
 * its own UUID (`messageId` of a job); Turnstream stores it under {@link scopedMessageId}: a UUID
 * version 5 of that id in the tenant's namespace. Two tenants using the same id get two different
 * messages, and no id a producer chooses can name, reveal or take another tenant's message. (A job
 * whose `messageId` already names one of the tenant's own stored messages means that message.)
 */
export function scopedMessageId(tenantId: string, messageId: string): string {
  return uuidV5(messageId.toLowerCase(), tenantId);
}

/**
 * The BullMQ job id of a message handed in on the intake queue: scoped to the tenant, so producers of
 * two tenants using the same message id never share a job (or see each other's result).
 */
export function intakeJobId(tenantId: string, messageId: string): string {
  return `turn-${tenantId.toLowerCase()}-${messageId.toLowerCase()}`;
}

/** RFC 9562 UUID version 5 (SHA-1) of `name` in the namespace `namespace` (a UUID). */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new RangeError('namespace must be a UUID');
  const bytes = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
