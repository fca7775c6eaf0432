export * from './database.ts';
export * from './digest.ts';
export * from './fixtures.ts';
