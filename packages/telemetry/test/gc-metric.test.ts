import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const burst = fileURLToPath(new URL('./fixtures/gc-burst.ts', import.meta.url));

describe('nodejs_gc_duration_seconds', () => {
  it('counts every collection, also those Node delivers together in one batch', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', burst]);
    const { seen, deliveries, counted } = JSON.parse(stdout) as {
      seen: number;
      deliveries: number;
      counted: number;
    };
    expect(seen).toBeGreaterThanOrEqual(20);
    // The case prom-client's own metric gets wrong: fewer deliveries than collections.
    expect(deliveries).toBeLessThan(seen);
    expect(counted).toBe(seen);
  });
});
