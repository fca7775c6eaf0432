export { BATCH_RECORD_KEEP, BATCH_RECORD_TTL_SECONDS } from './batch-record.ts';
export { ChunkCoalescer, type ChunkCoalescerOptions } from './chunk-coalescer.ts';
export { deleteConversationKeys } from './conversation-keys-purge.ts';
export type { ReplicationShort } from './durable-append.ts';
export { MalformedEntryError } from './entries.ts';
export {
  CoalescerClosedError,
  LogReadError,
  SubscriberClosedError,
  SubscriberConnectionEndedError,
  SubscriberOverflowError,
} from './errors.ts';
export {
  createEventSubscriber,
  type EventSubscriber,
  type EventSubscriberOptions,
  type SubscribeOptions,
} from './event-subscriber.ts';
export { type ConversationKeys, conversationKeys } from './keys.ts';
export { PUBLISH_KEY_COUNT, PUBLISH_LUA } from './publish-script.ts';
export { DEFAULT_READ_RETRY_MS, type ReadRetry } from './read-retry.ts';
export { type ReplicationEnv, type ReplicationLog, replicationOptions } from './replication-options.ts';
export type { ResumeCheck } from './resume-check.ts';
export { compareStreamIds, isStreamId } from './stream-ids.ts';
export type { Subscription } from './subscription.ts';
export {
  createTurnStreams,
  type PublishResult,
  type ReadOptions,
  type TurnStreams,
  type TurnStreamsOptions,
} from './turn-streams.ts';
