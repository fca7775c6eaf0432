import { runCli } from './run-cli.ts';

/** The image's commands: each loads and runs one program (its module runs on import). */
export const IMAGE_COMMANDS = {
  api: () => import('../../../apps/api/src/main.ts'),
  worker: () => import('../../../apps/worker/src/main.ts'),
  migrate: () => import('../../../packages/db/src/migrate-cli.ts'),
  simulator: () => import('../../../apps/claude-sim/src/main.ts'),
  healthcheck: () => import('./healthcheck.ts'),
  'tenant:create': () => runCli(() => import('../../../apps/api/src/cli/create-tenant.ts')),
  key: () => runCli(() => import('../../../apps/api/src/cli/keys.ts')),
} as const;
