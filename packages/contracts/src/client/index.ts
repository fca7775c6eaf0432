export * from './errors.ts';
export * from './event-log.ts';
export * from './outcome.ts';
export * from './turns-client.ts';
