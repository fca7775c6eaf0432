/** Redis names used for one conversation. All share the hash tag `{conv:<id>}`: one Cluster slot. */
export interface ConversationKeys {
  /** The Redis Stream holding the durable event log. */
  log: string;
  /** A string holding the highest fence accepted so far. */
  fence: string;
  /** The (sharded) pub/sub channel carrying live batches. */
  channel: string;
}

export function conversationKeys(prefix: string, conversationId: string): ConversationKeys {
  if (conversationId === '') throw new TypeError('conversationId must not be empty');
  const base = `${prefix}:{conv:${conversationId}}`;
  return { log: `${base}:log`, fence: `${base}:fence`, channel: `${base}:live` };
}
