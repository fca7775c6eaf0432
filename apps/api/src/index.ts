export { buildApp } from './app.ts';
export { type AuthContext, type Permission, ROLE_PERMISSIONS } from './auth.ts';
export { type AppConfig, type AppDeps, DEFAULT_APP_CONFIG } from './context.ts';
export { deleteConversation, type PurgeDeps, purgeConversation } from './conversation-deletion.ts';
export { type ApiEnv, apiEnvSchema, parseEnv } from './env.ts';
export { ApiError, ERROR_CATALOG, type ErrorBody, type ErrorCode } from './errors.ts';
export { type ApiMetrics, createApiMetrics } from './metrics.ts';
export { startRetentionSweeper, sweepExpiredConversations } from './retention.ts';
export { createTenantWithKey, DEV_TENANT_NAME, ensureDevTenant, type TenantKey } from './tenants.ts';
