import { scopedMessageId } from '@turnstream/contracts';
import { type Db, getMessage } from '@turnstream/db';

/**
 * The id a job's message is stored under: the producer's `messageId` scoped to the job's tenant
 * (`scopedMessageId`), or the id itself when it already names one of the tenant's own user messages
 * (a job sent again with the id an earlier intake returned). Only the tenant's own rows are looked at,
 * so another tenant's id behaves exactly like a fresh one: it can be neither probed nor taken.
 */
export async function storedMessageId(db: Db, tenantId: string, messageId: string): Promise<string> {
  const own = await getMessage(db, tenantId, messageId);
  if (own?.role === 'user') return own.id;
  return scopedMessageId(tenantId, messageId);
}
