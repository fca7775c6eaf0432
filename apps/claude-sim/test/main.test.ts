import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

const appDir = resolve(import.meta.dirname, '..');
const tsx = resolve(appDir, '../../node_modules/.bin/tsx');
let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

/** Resolves with the first stdout JSON line whose `event` is the given one. */
async function waitForEvent(proc: ChildProcess, event: string): Promise<Record<string, unknown>> {
  if (!proc.stdout) throw new Error('no stdout');
  const lines = createInterface({ input: proc.stdout });
  for await (const line of lines) {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if (parsed.event === event) return parsed;
  }
  throw new Error(`process ended before ${event}`);
}

describe('main.ts', () => {
  it('starts from env, logs sim.listen_completed with its url, serves, and exits 0 on SIGTERM', async () => {
    child = spawn(tsx, ['src/main.ts'], {
      cwd: appDir,
      env: {
        ...process.env,
        SIM_PORT: '0',
        SIM_REPLY_WORDS: '3',
        SIM_TOKEN_DELAY_MS: '0',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const listening = await waitForEvent(child, 'sim.listen_completed');
    expect(listening.level).toBe(30);
    expect(String(listening.url)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const res = await fetch(`${String(listening.url)}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'claude-haiku-4-5',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    const message = (await res.json()) as { content: Array<{ text: string }> };
    expect(message.content[0]?.text.split(' ')).toHaveLength(3);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
  });
});

describe('startSimulator', () => {
  it('is listening by the time it resolves', async () => {
    const { startSimulator } = await import('../src/index.ts');
    const sim = await startSimulator();
    try {
      const res = await fetch(`${sim.url}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.status).toBe(200);
    } finally {
      await sim.close();
    }
  });
});
