import { chooseSeed, SEED_ENV } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { chooseProfile } from './profile.ts';
import { removeRunDir, runChaos } from './run.ts';

// The chaos suite (`pnpm test:chaos`, docs/reliability.md): real API, worker and simulator processes
// against Postgres and a private Redis, with workers killed and frozen, Redis crashed, database
// connections cut, simulator faults, resets and cancels, under load from the API and TurnsClient.
// Seeded: TEST_SEED=<n> replays a run's plan and fault schedule.
const profile = chooseProfile(process.env);
const seed = chooseSeed(process.env);

describe(`chaos (${profile.name})`, () => {
  it(
    'every accepted message ends once, as expected, in order, with the right reply and no leaked context',
    async () => {
      console.log(
        `chaos ${profile.name}: seed ${seed} (replay: ${SEED_ENV}=${seed} pnpm test:chaos${profile.name === 'bounded' ? '' : ` --${profile.name}`})`,
      );
      const result = await runChaos(profile, seed);
      console.log(`${result.table}\n\n(run directory: ${result.dir})`);
      const failed = result.rows.filter((r) => r.ok === false);
      expect(failed.map((r) => `${r.check}: ${r.value} (expected ${r.expected})`)).toEqual([]);
      removeRunDir(result.dir);
    },
    profile.runTimeoutMs,
  );
});
