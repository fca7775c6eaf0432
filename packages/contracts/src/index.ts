export * from './events.ts';
export * from './queue.ts';
export * from './turn-job.ts';
