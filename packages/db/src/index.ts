export * from './client.ts';
export * from './ids.ts';
export * from './migrate.ts';
export * from './repositories/index.ts';
export * as schema from './schema/index.ts';
export type { MessageRole, MessageStatus, MessageUsage, ApiKeyRole } from './schema/index.ts';
