import type { RedisClient } from '@turnstream/config';
import { cancelFlagKey } from '@turnstream/contracts';
import { conversationKeys } from './keys.ts';

/**
 * Remove a deleted conversation's Redis state: its event log, its fence, its released id and the cancel flags of these
 * messages. Idempotent: both a deletion and an intake that finds its conversation deleted under it call
 * it.
 */
export async function deleteConversationKeys(
  redis: RedisClient,
  prefix: string,
  conversationId: string,
  messageIds: readonly string[],
): Promise<void> {
  const keys = conversationKeys(prefix, conversationId);
  const flags = messageIds.map((id) => cancelFlagKey(prefix, conversationId, id));
  // One key per call: every key of a conversation shares its hash tag, but stay Cluster-agnostic anyway.
  await Promise.all(
    [keys.log, keys.fence, keys.ends, keys.released, ...flags].map((key) => redis.unlink(key)),
  );
}
