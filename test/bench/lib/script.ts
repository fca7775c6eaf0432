import { type BenchContext, PROFILES, type Profile } from './context.ts';
import { Driver } from './driver.ts';
import { BenchStack, type StackOptions } from './stack.ts';

/**
 * Runs a standalone bench script (`inventory.ts`, `worker-threads.ts`): a fresh stack with `workers`
 * workers and both clients ready, then `run`, then everything stopped, whatever happened.
 */
export async function withBenchStack(
  opts: { workers: number; profile?: Partial<Profile>; stack?: StackOptions },
  run: (ctx: BenchContext) => Promise<void>,
): Promise<void> {
  const stack = new BenchStack(opts.stack ?? {});
  const client = new Driver('turn-client', 'turn-client.ts');
  const direct = new Driver('direct-client', 'direct-client.ts');
  try {
    await stack.start();
    await stack.setWorkers(opts.workers, 100);
    await client.call('init', { apiUrl: stack.apiUrl, apiKey: stack.apiKey });
    await direct.call('init', { simUrl: stack.simUrl });
    const profile = { ...PROFILES.full, ...opts.profile };
    await run({ profile, stack, client, direct, log: (m) => console.log(m) });
  } finally {
    await Promise.allSettled([client.stop(), direct.stop()]);
    await stack.stop();
  }
}
