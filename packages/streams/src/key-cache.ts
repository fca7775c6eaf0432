import { type ConversationKeys, conversationKeys } from './keys.ts';

/** Conversations whose key names a {@link KeyCache} keeps (the oldest one is dropped beyond). */
export const KEY_CACHE_SIZE = 4096;

/**
 * The key names of the conversations a process published to lately. A held stream publishes every
 * few tens of milliseconds: its names are built once (and flattened once, by the first command that
 * measures them), not a fresh set of strings for every publish. Bounded: beyond `size` conversations
 * the one cached first is dropped.
 */
export class KeyCache {
  private readonly cached = new Map<string, Readonly<ConversationKeys>>();

  constructor(
    private readonly prefix: string,
    private readonly size = KEY_CACHE_SIZE,
  ) {}

  get(conversationId: string): Readonly<ConversationKeys> {
    let keys = this.cached.get(conversationId);
    if (keys) return keys;
    keys = Object.freeze(conversationKeys(this.prefix, conversationId));
    if (this.cached.size >= this.size) this.cached.delete(this.cached.keys().next().value!);
    this.cached.set(conversationId, keys);
    return keys;
  }
}
