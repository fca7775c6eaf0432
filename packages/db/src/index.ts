export * from './client.ts';
export * from './ids.ts';
export * from './message-status.ts';
export * from './migrate.ts';
export * from './repositories/index.ts';
export type { ApiKeyRole, MessageRole, MessageUsage } from './schema/index.ts';
export * as schema from './schema/index.ts';
export { API_KEY_ROLES } from './schema/index.ts';
export * from './turn-end-event.ts';
