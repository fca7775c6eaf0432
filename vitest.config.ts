import { defineConfig } from 'vitest/config';

// One run over every package and app. Tests talk to real Postgres and Redis:
// test/global-setup.ts migrates a template database once per run; each test file
// clones its own database from it (see packages/db/src/testing).
export default defineConfig({
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'apps/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      'infra/test/**/*.test.ts',
    ],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
