export * from './env-docs.ts';
export * from './fleet.ts';
export * from './fleet-marker.ts';
export * from './parse.ts';
export { ENV_INVALID_EXIT_CODE, readEnvOrExit } from './read-env.ts';
export * from './redis.ts';
export * from './service.ts';
