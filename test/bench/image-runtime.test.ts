import { spawn } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { ROOT } from './lib/process.ts';
import { imageRuntime, sourceRuntime } from './lib/runtime.ts';
import { withBenchStack } from './lib/script.ts';
import { turnstreamLoop } from './scenarios/turn-runs.ts';

// The benchmark measures what production runs: the image's bundled program (`infra/image`).
describe('bench runtime: the image program', () => {
  it("builds the image's program into a folder of its own, runs it with the workspace's packages, and removes it", async () => {
    const runtime = imageRuntime(ROOT);
    const { args, cwd } = runtime.command('simulator');
    try {
      expect(args).toEqual([join(cwd, 'dist/main.js'), 'simulator']);
      // The same install the source runs: the link points into the workspace's store.
      expect(readlinkSync(join(cwd, 'node_modules/drizzle-orm'))).toContain('node_modules');
      const port = await freePort();
      const sim = spawn(process.execPath, args, {
        cwd,
        env: { ...process.env, SIM_PORT: String(port), LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      });
      try {
        await waitFor(
          () =>
            fetch(`http://127.0.0.1:${port}/__sim/health`).then(
              (r) => r.ok,
              () => false,
            ),
          { timeoutMs: 30_000 },
        );
      } finally {
        sim.kill('SIGKILL');
      }
    } finally {
      runtime.close();
    }
    expect(existsSync(cwd)).toBe(false);
  });

  it('runs turns end to end with the API, a worker and the simulator started from the bundle', async () => {
    await withBenchStack({ workers: 1, stack: { runtime: 'image' } }, async (ctx) => {
      expect(ctx.stack.runtimeName).toBe('image');
      // Each app process runs dist/main.js, not its TypeScript.
      const { args } = ctx.stack.api.command;
      expect(args.at(-2)).toMatch(/dist\/main\.js$/);
      expect(args.at(-1)).toBe('api');
      expect(ctx.stack.workers[0]!.command.args.at(-1)).toBe('worker');
      const { run } = await turnstreamLoop(ctx, { concurrency: 2, durationMs: 1500, words: 5, delayMs: 0 });
      expect(run.completed).toBeGreaterThan(0);
      expect(run.completed).toBe(run.turns);
    });
  });

  it('the source runtime runs each app from its main.ts under tsx', () => {
    expect(sourceRuntime(ROOT).command('worker')).toEqual({
      args: ['--import', 'tsx', 'apps/worker/src/main.ts'],
      cwd: ROOT,
    });
  });
});
