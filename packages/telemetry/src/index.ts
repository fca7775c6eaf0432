export * from './metrics-server.ts';
export * from './queue-depth.ts';
export * from './registry.ts';
export * from './tracing.ts';
