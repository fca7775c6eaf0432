#!/usr/bin/env node
// `pnpm test:chaos [--soak] [--seed <n>]`: the chaos suite (docs/reliability.md).
// --soak runs the long profile (5,000 turns); --seed replays a run's plan and fault schedule.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    soak: { type: 'boolean', default: false },
    profile: { type: 'string' },
    seed: { type: 'string' },
  },
});
const env = { ...process.env, CHAOS_PROFILE: values.profile ?? (values.soak ? 'soak' : 'bounded') };
if (values.seed !== undefined) env.TEST_SEED = values.seed;
const res = spawnSync('vitest', ['run', '--config', 'vitest.chaos.config.ts'], {
  stdio: 'inherit',
  env,
  cwd: new URL('..', import.meta.url).pathname,
});
process.exit(res.status ?? 1);
