import { defineConfig } from 'vitest/config';

// The chaos suite (`pnpm test:chaos`, see docs/reliability.md): one long run of real processes under
// faults, alone (it starts its own Redis and processes and needs the machine's cores to itself).
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.run.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 4 * 3600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
