export * from './api-keys.ts';
export * from './conversations.ts';
export * from './messages.ts';
export * from './sessions.ts';
export * from './tenants.ts';
export * from './transcripts.ts';
export * from './turn-attempts.ts';
export * from './turns.ts';
