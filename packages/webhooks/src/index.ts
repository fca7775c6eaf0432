export * from './dispatcher.ts';
export * from './endpoint-slots.ts';
export * from './jobs.ts';
export * from './notify.ts';
export * from './payload.ts';
export * from './send.ts';
export * from './sign.ts';
export * from './targets.ts';
