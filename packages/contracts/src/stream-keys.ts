import { FLEET_DEFAULTS } from '@turnstream/config';

/**
 * Redis names used for one conversation's events. All share the hash tag `{conv:<id>}` (one Cluster
 * slot). `prefix` is the deployment's Redis key prefix (`REDIS_PREFIX`, default `ts`).
 */
export interface ConversationKeys {
  /** The Redis Stream holding the durable event log (each entry's field `e` is the event as JSON). */
  log: string;
  /** A string holding the highest fence accepted so far. */
  fence: string;
  /**
   * A hash from message id to the log ids of that message's terminal event: a turn's end is appended
   * once, however many writers (or re-sends) publish it. Expires with the log.
   */
  ends: string;
  /** The (sharded) pub/sub channel carrying live batches. */
  channel: string;
  /**
   * A string holding the id of the newest log entry released to readers: published live, and the end
   * of what Turnstream's own readers read from the log. With replication waits (`REDIS_WAIT_REPLICAS`)
   * an entry is released only once a replica has it; without, as it is appended. Expires with the log.
   */
  released: string;
}

/**
 * The Redis key and channel names of a conversation's events.
 * @throws TypeError when `conversationId` is empty.
 */
export function conversationKeys(prefix: string, conversationId: string): ConversationKeys {
  if (conversationId === '') throw new TypeError('conversationId must not be empty');
  const base = `${prefix}:{conv:${conversationId}}`;
  return {
    log: `${base}:log`,
    fence: `${base}:fence`,
    ends: `${base}:ends`,
    channel: `${base}:live`,
    released: `${base}:released`,
  };
}

/** Field of a log entry that holds the event body as JSON. */
export const EVENT_FIELD = 'e';

/** The deployment's default Redis key prefix (streams, cancel flags). */
export const DEFAULT_KEY_PREFIX = FLEET_DEFAULTS.REDIS_PREFIX;
