import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTsx } from '@turnstream/testkit';
import { afterAll, describe, expect, it } from 'vitest';

// `npm start` on a machine without redis-server: one line saying what to install, nothing started.
const dir = mkdtempSync(join(tmpdir(), 'turnstream-no-redis-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm start without redis-server', () => {
  it('says in one line which package to install, and starts nothing', async () => {
    const bin = join(dir, 'bin');
    const data = join(dir, 'data');
    const launcher = spawnTsx('scripts/dev.ts', {
      name: 'start',
      env: {
        PATH: bin, // no redis-server anywhere on it
        TURNSTREAM_EMBEDDED: 'always',
        TURNSTREAM_DATA_DIR: data,
        DATABASE_URL: '',
        REDIS_URL: '',
      },
    });
    const exit = await launcher.exited;
    expect(exit.code).toBe(1);
    expect(launcher.lines.map((l) => l.msg)).toEqual([
      'redis-server was not found on PATH: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL',
    ]);
    expect(() => rmSync(data)).toThrow(/ENOENT/); // no data directory: nothing was started
  });
});
