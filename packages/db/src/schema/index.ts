export * from './admin.ts';
export * from './conversations.ts';
export * from './messages.ts';
export * from './sessions.ts';
export * from './tenants.ts';
export * from './webhooks.ts';
