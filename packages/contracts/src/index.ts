export * from './cancel.ts';
export * from './events.ts';
export * from './job-options.ts';
export * from './promote.ts';
export * from './queue.ts';
export * from './text.ts';
export * from './turn-job.ts';
export * from './turns-client.ts';
